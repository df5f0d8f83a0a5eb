/**
 * Shared by the operator-mode suites: a real agent (simulated runtime) runs
 * under a device's own creds file while the control plane applies one
 * deployment to it; the agent must run it and nothing it does may be
 * refused by the server.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { device as makeDevice } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { nats } from "../../src/interpreters/nats/index.ts";
import { runAgent } from "../../src/interpreters/nats/agent.ts";
import { simulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { waitForReality } from "./support.ts";

export interface ScopedAgentRun {
  readonly url: string;
  readonly device: DeviceId;
  /** The text of the device's own creds (fleet credentials issue, or fleet enroll). */
  readonly deviceCreds: string;
  /** The text of the control plane's creds. */
  readonly controlPlaneCreds: string;
  /** Where the creds files are written. */
  readonly dir: string;
  /** Raw values earlier tests wrote into desired-state: not desired entries (the device would be left alone as unreadable). */
  readonly deleteKeys: ReadonlyArray<string>;
}

export const expectScopedAgentRuns = async (run: ScopedAgentRun): Promise<void> => {
  const A = run.device;
  const credsFile = join(run.dir, `${A}-own.creds`);
  await writeFile(credsFile, run.deviceCreds, { mode: 0o600 });
  const cpCreds = join(run.dir, "control-plane-own.creds");
  await writeFile(cpCreds, run.controlPlaneCreds, { mode: 0o600 });
  const nc = await connect({ servers: run.url, authenticator: credsAuthenticator(new TextEncoder().encode(run.controlPlaneCreds)) });
  try {
    const kv = await new Kvm(jetstream(nc)).open("desired-state");
    for (const k of run.deleteKeys) await kv.delete(k);
  } finally {
    await nc.close();
  }
  const fleet = await nats({ servers: [run.url], credsFile: cpCreds });
  const lines: string[] = [];
  const agent = await runAgent({
    device: makeDevice(A, { labels: { env: "prod" } }),
    runtime: simulatedRuntime({ name: A, latencyMs: 5 }),
    nats: { servers: run.url, credsFile, scopedTo: A },
    heartbeatIntervalMs: 500,
    log: (l) => lines.push(l),
  });
  try {
    const web = deployment("api", podman({ services: [{ name: "api", image: "registry.local/api:1" }] }));
    const w = world({ fleet: [makeDevice(A, { labels: { env: "prod" } })], assignments: [assign(label("env", "prod"), web)] });
    const applied = await fleet.apply(diff(w, (await fleet.read()).reality, { now: new Date() }));
    expect(applied._tag).toBe("Completed");
    const r = await waitForReality(fleet, (x) => x.observed.get(A)?.get("api" as never)?.phase === "Running", 20_000);
    expect(r.observed.get(A)?.get("api" as never)?.phase, `${lines.join("\n")}\nobserved: ${JSON.stringify([...(r.observed.get(A)?.values() ?? [])])}\ndesired: ${JSON.stringify([...(r.desired.get(A)?.keys() ?? [])])} registered: ${String(r.devices.has(A))}`).toBe("Running");
    expect(r.devices.get(A)?.lastHeartbeat).toBeDefined();
    // Nothing the agent does is refused by the server.
    expect(lines.filter((l) => /Permissions Violation/i.test(l))).toEqual([]);
  } finally {
    await agent.stop();
    await fleet.close();
  }
};
