/**
 * The device agent on a real nats-server: as a library (malformed entries,
 * NATS restarts, leftovers of a previous run) and as the `fleet agent`
 * process (SIGKILL mid-reconcile then restart; SIGTERM exits cleanly).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { diff } from "../../src/diff/Diff.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { runAgent, type AgentHandle } from "../../src/interpreters/nats/agent.ts";
import { simulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { converged, notConverged, sleep, waitForReality } from "./support.ts";

const FLEET = fileURLToPath(new URL("../../bin/fleet.js", import.meta.url));
const web = (tag: string) => deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}` }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));
const id = (s: string) => s as DeviceId;

describe("nats agent", () => {
  let server: NatsServer;
  let fleet: NatsInterpreter;
  const agents: AgentHandle[] = [];
  const children: ChildProcess[] = [];

  const applyWorld = async (w: World): Promise<void> => {
    const r = await fleet.apply(diff(w, (await fleet.read()).reality, { now: new Date() }));
    expect(r._tag).toBe("Completed");
    if (r._tag === "Completed") expect(r.outcomes.filter((o) => o._tag === "Failed")).toEqual([]);
  };

  const startProcess = (args: ReadonlyArray<string>): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } => {
    const child = spawn(process.execPath, [FLEET, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let err = "";
    child.stderr?.on("data", (b: Buffer) => (err += b.toString()));
    child.stdout?.on("data", () => undefined);
    const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    return { child, exit, stderr: () => err };
  };

  beforeAll(async () => {
    server = await startNatsServer();
    fleet = await nats({ servers: server.url, name: "agent-test", lockTtlMs: 3_000 });
  });
  beforeEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await fleet.reset();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await fleet?.close();
    await server?.stop();
  });

  it("a malformed desired entry is reported Failed with the reason; the other deployments still run", async () => {
    const rt = simulatedRuntime({ name: "m-01", latencyMs: 5 });
    agents.push(await runAgent({ device: device("m-01"), runtime: rt, nats: { servers: server.url }, heartbeatIntervalMs: 200 }));
    await applyWorld(world({ assignments: [assign(all, web("1"))] }));
    await fleet.buckets.desired.put("m-01.broken", new TextEncoder().encode('{"v":1,"specHash":"sha256:00","spec":{"name":"broken"'));
    const r = await waitForReality(fleet, (x) => x.observed.get(id("m-01"))?.get("broken" as never)?.phase === "Failed" && x.observed.get(id("m-01"))?.get(web("1").name)?.phase === "Running");
    const broken = r.observed.get(id("m-01"))?.get("broken" as never);
    expect(broken?.phase).toBe("Failed");
    expect(broken?.error).toMatch(/unreadable desired entry: value is not JSON/);
    expect(r.observed.get(id("m-01"))?.get(web("1").name)?.specHash).toBe(specHash(web("1")));
    expect([...rt.running().keys()]).toEqual(["web"]);
    // The control plane's own read reports the same entry as a problem (and holds the device back).
    const { problems } = await fleet.read();
    expect(problems.map((p) => `${p.source} ${p.key}`)).toEqual(["desired-state m-01.broken"]);
  });

  it("survives a NATS restart: reconnects, re-reads, and picks up an update made meanwhile", async () => {
    const rt = simulatedRuntime({ name: "r-01", latencyMs: 5 });
    agents.push(await runAgent({ device: device("r-01"), runtime: rt, nats: { servers: server.url }, heartbeatIntervalMs: 200, retryMs: 200 }));
    const w1 = world({ assignments: [assign(all, web("1"))] });
    await applyWorld(w1);
    expect(notConverged(await waitForReality(fleet, converged))).toEqual([]);

    await server.kill();
    await sleep(500);
    await server.restart();
    // The control plane applies as soon as it can; the agent may or may not have reconnected yet.
    let applied = false;
    for (let i = 0; i < 40 && !applied; i++) {
      try {
        await applyWorld(world({ assignments: [assign(all, web("2")), assign(all, metrics)] }));
        applied = true;
      } catch {
        await sleep(250);
      }
    }
    expect(applied).toBe(true);
    const r = await waitForReality(fleet, (x) => converged(x) && x.observed.get(id("r-01"))?.size === 2, 30_000);
    expect(notConverged(r)).toEqual([]);
    expect(rt.running().get(web("2").name)).toBe(specHash(web("2")));
    expect(rt.running().get(metrics.name)).toBe(specHash(metrics));
  }, 90_000);

  it("removes the state a previous run left for a deployment deleted while it was down", async () => {
    const rt = simulatedRuntime({ name: "g-01", latencyMs: 5 });
    const first = await runAgent({ device: device("g-01"), runtime: rt, nats: { servers: server.url }, heartbeatIntervalMs: 200 });
    await applyWorld(world({ assignments: [assign(all, web("1")), assign(all, metrics)] }));
    expect(notConverged(await waitForReality(fleet, (x) => converged(x) && x.observed.get(id("g-01"))?.size === 2))).toEqual([]);
    await first.stop();
    await applyWorld(world({ assignments: [assign(all, web("1"))] }));
    agents.push(await runAgent({ device: device("g-01"), runtime: rt, nats: { servers: server.url }, heartbeatIntervalMs: 200 }));
    const r = await waitForReality(fleet, (x) => converged(x) && x.observed.get(id("g-01"))?.size === 1);
    expect(notConverged(r)).toEqual([]);
    expect([...rt.running().keys()]).toEqual(["web"]);
  });

  it("`fleet agent` killed mid-reconcile converges after a restart; SIGTERM exits cleanly", async () => {
    const base = ["agent", "--device-id", "k-01", "--nats", server.url, "--runtime", "simulated", "--heartbeat-interval", "200", "--labels", "env=test"];
    const slow = startProcess([...base, "--latency", "60000"]);
    const seen = await waitForReality(fleet, (x) => x.devices.has(id("k-01")), 30_000);
    expect(seen.devices.has(id("k-01")), slow.stderr()).toBe(true);
    await applyWorld(world({ assignments: [assign(all, web("1"))] }));
    // It took the entry up (Pending) and is starting it: kill it there.
    const pending = await waitForReality(fleet, (x) => x.observed.get(id("k-01"))?.get(web("1").name)?.phase === "Pending", 30_000);
    expect(pending.observed.get(id("k-01"))?.get(web("1").name)?.phase, slow.stderr()).toBe("Pending");
    slow.child.kill("SIGKILL");
    expect(await slow.exit).toBeNull();

    const again = startProcess([...base, "--latency", "20"]);
    const r = await waitForReality(fleet, converged, 30_000);
    expect(notConverged(r), again.stderr()).toEqual([]);
    expect(r.devices.get(id("k-01"))?.device.labels).toEqual({ env: "test" });
    again.child.kill("SIGTERM");
    expect(await again.exit, again.stderr()).toBe(0);
    expect(again.stderr()).toMatch(/SIGTERM; stopping/);
  }, 90_000);

  it("`fleet sim` runs N agents on one connection and stops on SIGINT", async () => {
    const sim = startProcess(["sim", "--devices", "25", "--nats", server.url, "--prefix", "cli", "--latency", "5", "--seed", "3", "--heartbeat-interval", "300", "--nats-timeout", "30s"]);
    const registered = await waitForReality(fleet, (x) => x.devices.size === 25, 30_000);
    expect(registered.devices.size).toBe(25);
    await applyWorld(world({ assignments: [assign(all, web("1"))] }));
    expect(notConverged(await waitForReality(fleet, (x) => converged(x) && x.observed.size === 25, 30_000))).toEqual([]);
    sim.child.kill("SIGINT");
    expect(await sim.exit).toBe(0);
  }, 90_000);

  it("--nats-timeout of `fleet agent` and `fleet sim`: refused with one line before connecting, or given to the agents' JetStream client", async () => {
    for (const [command, extra] of [["agent", ["--device-id", "t-01", "--runtime", "simulated"]], ["sim", ["--devices", "2"]]] as const) {
      const p = startProcess([command, ...extra, "--nats", server.url, "--nats-timeout", "0s"]);
      expect(await p.exit, p.stderr()).toBe(1);
      expect(p.stderr()).toContain(`--nats-timeout: must be more than 0 (see 'fleet ${command} --help')`);
    }
    const { runSimulation } = await import("../../src/interpreters/nats/Simulation.ts");
    const sim = await runSimulation({ devices: 1, nats: { servers: server.url }, prefix: "timeout", apiTimeoutMs: 23_456 });
    try {
      expect(sim.connection.js.getOptions().timeout).toBe(23_456);
    } finally {
      await sim.stop();
    }
  }, 60_000);
});
