/**
 * One real device, end to end: a nats-server (test/support/nats-server.ts),
 * a private podman (test/support/podman.ts), and `fleet agent --runtime
 * podman --podman-socket …` as its own process, as on a device. The control plane applies a World through the
 * NATS interpreter; the agent converges podman to it, a page is served from
 * the container over loopback, and the device reports Running. Removing the
 * assignment removes the container.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { device } from "../../src/algebra/Device.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { TEST_PAGE, eventually, fetchPage, freePort, startPodman, type PodmanHarness } from "../support/podman.ts";

const FLEET = fileURLToPath(new URL("../../bin/fleet.js", import.meta.url));
const ID = "edge-e2e" as DeviceId;
const SITE = "site" as DeploymentName;

let server: NatsServer;
let h: PodmanHarness;
let control: NatsInterpreter;
let agent: ChildProcess | undefined;
let agentLog = "";

/** The agent must find podman through its --podman-socket flag, not an inherited CONTAINER_HOST. */
const withoutContainerHost = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env["CONTAINER_HOST"];
  return env;
};

beforeAll(async () => {
  [server, h] = await Promise.all([startNatsServer(), startPodman()]);
  control = await nats({ servers: server.url, name: "e2e-control" });
  agent = spawn(
    process.execPath,
    [FLEET, "agent", "--device-id", ID, "--nats", server.url, "--labels", "role=web", "--arch", "x86_64", "--runtime", "podman", "--podman-socket", h.socket, "--heartbeat-interval", "1000"],
    { env: withoutContainerHost(), stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (b: Buffer): void => {
    agentLog = (agentLog + b.toString("utf8")).slice(-8000);
  };
  agent.stdout?.on("data", keep);
  agent.stderr?.on("data", keep);
});

afterAll(async () => {
  if (agent?.pid !== undefined && agent.exitCode === null && agent.signalCode === null) {
    const a = agent;
    const gone = new Promise<void>((resolve) => a.once("exit", () => resolve()));
    process.kill(a.pid as number, "SIGTERM");
    const grace = setTimeout(() => a.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(grace);
  }
  await control?.close();
  await Promise.all([server?.stop(), h?.stop()]);
});

const converge = async (w: World): Promise<void> => {
  const { reality } = await control.read();
  const plan = diff(w, reality, { now: new Date() });
  const result = await control.apply(plan);
  expect(result._tag).toBe("Completed");
};

describe("one device end to end: NATS control plane, fleet agent, real podman", () => {
  it("converges to a page served from the container, then removes it", async () => {
    const port = await freePort();
    const site = deployment(SITE, podman({ services: [{ name: "httpd", image: h.image, ports: [{ container: 80, host: port, hostIp: "127.0.0.1" }], restart: "always" }] }));
    const fleet = [device(ID, { labels: { role: "web" }, arch: "x86_64" })];
    const assigned = world({ fleet, assignments: [assign(label("role", "web"), site, { name: "web" })] });

    // The agent registers and heartbeats: the device is online before anything is published.
    await eventually(
      async () => {
        if (agent?.exitCode !== null) throw new Error(`fleet agent exited (${String(agent?.exitCode)}): ${agentLog}`);
        const r = (await control.read()).reality.devices.get(ID);
        return r?.lastHeartbeat !== undefined && Date.now() - r.lastHeartbeat.getTime() < 30_000 ? r : undefined;
      },
      60_000,
      "the agent's registration and heartbeat",
    );

    await converge(assigned);
    expect(await eventually(() => fetchPage(`http://127.0.0.1:${port}/`), 60_000, "the page from the container")).toBe(TEST_PAGE);
    const observed = await eventually(async () => {
      const o = (await control.read()).reality.observed.get(ID)?.get(SITE);
      return o?.phase === "Running" ? o : undefined;
    }, 60_000, "the device's Running report");
    expect(observed.specHash).toBe(specHash(site));
    expect((await h.inspect("fleet_site_httpd"))?.labels["io.fleet-algebra.spec-hash"]).toBe(specHash(site));

    // Nothing more to do for the control plane.
    expect(diff(assigned, (await control.read()).reality, { now: new Date() }).actions).toEqual([]);

    // Removal: the assignment goes, the container goes, the report goes.
    await converge(world({ fleet, assignments: [] }));
    await eventually(async () => ((await h.containerNames()).length === 0 ? true : undefined), 60_000, "the container's removal");
    expect(await fetchPage(`http://127.0.0.1:${port}/`)).toBeUndefined();
    await eventually(async () => ((await control.read()).reality.observed.get(ID)?.get(SITE) === undefined ? true : undefined), 60_000, "the report's removal");
  });
});
