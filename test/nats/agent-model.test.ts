/**
 * The model-based agent law (test/laws/agent-model.test.ts) once more, with
 * the real agent (the NATS driver of src/agent/Step.ts) against a real
 * nats-server: random sequences of desired-state edits (good and malformed),
 * agent restarts and server restarts (kill, then start on the same store),
 * with `fc.asyncModelRun`. The model is the desired entries; after each
 * sequence the device must run exactly the decodable ones at their specs, and
 * `device-state` must hold Running for each, Failed for each malformed one,
 * and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import { entryKey, type DeploymentName, type DeviceId } from "../../src/algebra/Name.ts";
import type { Reality } from "../../src/diff/Reality.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { runAgent, type AgentHandle } from "../../src/interpreters/nats/agent.ts";
import { encodeDesiredValue } from "../../src/interpreters/nats/wire.ts";
import { simulatedRuntime, type SimulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { sleep } from "./support.ts";

const NAMES = ["web", "db"] as const;
const spec = (n: string, version: number): Deployment => deployment(n, podman({ services: [{ name: "svc", image: `registry.local/${n}:${version}` }] }));
type Wanted = { readonly _tag: "Spec"; readonly version: number } | { readonly _tag: "Malformed" };

interface Model {
  readonly desired: Map<DeploymentName, Wanted>;
}
interface Real {
  readonly id: DeviceId;
  readonly runtime: SimulatedRuntime;
  agent: AgentHandle;
}

describe("nats agent (model-based, real server)", () => {
  let server: NatsServer;
  let fleet: NatsInterpreter;
  const live: AgentHandle[] = [];
  beforeAll(async () => {
    server = await startNatsServer();
    fleet = await nats({ servers: server.url, name: "agent-model-test" });
  });
  afterAll(async () => {
    await Promise.all(live.map((a) => a.stop()));
    await fleet?.close();
    await server?.stop();
  });

  const start = async (id: DeviceId, runtime: SimulatedRuntime): Promise<AgentHandle> => {
    const a = await runAgent({ device: device(id), runtime, nats: { servers: server.url }, heartbeatIntervalMs: 200, retryMs: 200 });
    live.push(a);
    return a;
  };
  const stop = async (a: AgentHandle): Promise<void> => {
    live.splice(live.indexOf(a), 1);
    await a.stop();
  };
  /** The control plane writes as soon as the server takes writes again. */
  const retrying = async (f: () => Promise<unknown>): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        await f();
        return;
      } catch (e) {
        if (i >= 60) throw e;
        await sleep(250);
      }
    }
  };

  type Cmd = fc.AsyncCommand<Model, Real>;
  const cmd = (label: string, run: (m: Model, r: Real) => Promise<void>): Cmd => ({ check: () => true, run, toString: () => label });
  const put = (n: DeploymentName, w: Wanted) => async (m: Model, r: Real) => {
    m.desired.set(n, w);
    const bytes = w._tag === "Spec" ? encodeDesiredValue(spec(n, w.version), specHash(spec(n, w.version))) : new TextEncoder().encode('{"v":1,"spec":');
    await retrying(() => fleet.buckets.desired.put(entryKey(r.id, n), bytes));
  };
  const commands = [
    fc.tuple(fc.constantFrom(...NAMES), fc.nat(3)).map(([n, v]) => cmd(`put ${n}@${v}`, put(n as DeploymentName, { _tag: "Spec", version: v }))),
    fc.tuple(fc.constantFrom(...NAMES), fc.nat(3)).map(([n, v]) => cmd(`put ${n}@${v}`, put(n as DeploymentName, { _tag: "Spec", version: v }))),
    fc.constantFrom(...NAMES).map((n) => cmd(`put-malformed ${n}`, put(n as DeploymentName, { _tag: "Malformed" }))),
    fc.constantFrom(...NAMES).map((n) =>
      cmd(`delete ${n}`, async (m, r) => {
        m.desired.delete(n as DeploymentName);
        await retrying(() => fleet.buckets.desired.delete(entryKey(r.id, n as DeploymentName)));
      }),
    ),
    fc.constant(
      cmd("restart-agent", async (_m, r) => {
        await stop(r.agent);
        r.agent = await start(r.id, r.runtime);
      }),
    ),
    fc.constant(
      cmd("restart-server", async () => {
        await server.kill();
        await server.restart();
      }),
    ),
  ];

  let run = 0;
  it("the real agent converges to the model after edits, malformed entries, agent and server restarts", async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 8 }), async (cmds) => {
        const id = `am-${++run}` as DeviceId;
        const runtime = simulatedRuntime({ name: id, latencyMs: 5 });
        const real: Real = { id, runtime, agent: await start(id, runtime) };
        const model: Model = { desired: new Map() };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          const want = new Map([...model.desired].flatMap(([n, w]) => (w._tag === "Spec" ? [[n, specHash(spec(n, w.version))] as const] : [])));
          const expected = [...model.desired]
            .map(([n, w]) => `${n} ${w._tag === "Spec" ? `Running ${specHash(spec(n, w.version))}` : "Failed unreadable"}`)
            .sort();
          const observed = (r: Reality): string[] =>
            [...(r.observed.get(id)?.values() ?? [])].map((o) => `${o.deployment} ${o.phase} ${o.phase === "Failed" ? (o.error?.startsWith("unreadable desired entry") ? "unreadable" : o.error) : o.specHash}`).sort();
          // Reads may time out while the client reconnects after a server restart: keep polling.
          let seen: string[] = [];
          for (const deadline = Date.now() + 30_000; Date.now() < deadline && JSON.stringify(seen) !== JSON.stringify(expected); await sleep(100))
            seen = await fleet.read().then((x) => observed(x.reality), () => seen);
          expect(seen).toEqual(expected);
          expect([...runtime.running()].sort()).toEqual([...want].sort());
        } finally {
          await stop(real.agent);
        }
      }),
      { numRuns: 4 },
    );
  }, 240_000);
});
