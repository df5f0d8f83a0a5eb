/**
 * The full loop on a real nats-server: the NATS interpreter publishes a
 * World, simulated agents (the real agent code on a simulated runtime)
 * converge and report; a label change and a spec change converge; deleting
 * everything leaves nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { all, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { diff } from "../../src/diff/Diff.ts";
import { desiredCount } from "../../src/diff/Reality.ts";
import type { NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { runAgent, type AgentHandle } from "../../src/interpreters/nats/agent.ts";
import { runSimulation, type Simulation } from "../../src/interpreters/nats/Simulation.ts";
import { simulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { converged, notConverged, useNats, waitForReality } from "./support.ts";

const web = (tag: string) => deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}`, ports: [{ container: 80, host: 8080 }] }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));

describe("nats: the full loop with simulated agents", () => {
  const nats = useNats({ name: "loop-test" });
  let fleet: NatsInterpreter;
  let prod: Simulation;
  let dev: Simulation;
  let edge: AgentHandle | undefined;

  const applyWorld = async (w: World): Promise<void> => {
    const plan = diff(w, (await fleet.read()).reality, { now: new Date() });
    const result = await fleet.apply(plan);
    expect(result._tag).toBe("Completed");
    if (result._tag === "Completed") expect(result.outcomes.filter((o) => o._tag === "Failed")).toEqual([]);
  };
  const convergedAfter = async (w: World) => {
    await applyWorld(w);
    const r = await waitForReality(fleet, (x) => converged(x) && diff(w, x, { now: new Date() }).actions.length === 0);
    expect(notConverged(r)).toEqual([]);
    expect(diff(w, r, { now: new Date() }).actions).toEqual([]);
    return r;
  };

  beforeAll(async () => {
    fleet = nats.fleet;
    prod = await runSimulation({ devices: 12, nats: { servers: [nats.server.url] }, prefix: "prod", labels: { env: "prod" }, latencyMs: 5, seed: 1, heartbeatIntervalMs: 500 });
    dev = await runSimulation({ devices: 8, connection: prod.connection, prefix: "dev", labels: { env: "dev" }, latencyMs: 5, seed: 2, heartbeatIntervalMs: 500 });
  });
  afterAll(async () => {
    await edge?.stop();
    await dev?.stop();
    await prod?.stop();
  });

  it("publishes a World and every deployment reports Running", async () => {
    const r = await convergedAfter(world({ assignments: [assign(label("env", "prod"), web("1")), assign(all, metrics)] }));
    expect(r.devices.size).toBe(20);
    expect(desiredCount(r)).toBe(12 + 20);
    for (const [id, rt] of prod.runtimes) expect([...rt.running().keys()].sort(), id).toEqual(["metrics", "web"]);
    for (const [id, rt] of dev.runtimes) expect([...rt.running().keys()], id).toEqual(["metrics"]);
  });

  it("a changed spec and a changed label converge", async () => {
    const w = world({ assignments: [assign(label("env", "prod"), web("2")), assign(label("tier", "edge"), web("edge")), assign(all, metrics)] });
    await convergedAfter(w);
    // One more device registers; then its label changes (it re-registers with new labels).
    const rt = simulatedRuntime({ name: "edge-01", latencyMs: 5 });
    edge = await runAgent({ device: device("edge-01", { labels: { tier: "edge" } }), runtime: rt, nats: { servers: [nats.server.url] }, heartbeatIntervalMs: 500 });
    const r1 = await convergedAfter(w);
    expect(r1.desired.get(device("edge-01").id)?.get(web("edge").name)?.specHash).toBeDefined();
    expect(rt.running().get(web("edge").name)).toBe(r1.desired.get(device("edge-01").id)?.get(web("edge").name)?.specHash);
    await edge.stop();
    edge = await runAgent({ device: device("edge-01", { labels: { env: "prod" } }), runtime: rt, nats: { servers: [nats.server.url] }, heartbeatIntervalMs: 500 });
    await waitForReality(fleet, (x) => x.devices.get(device("edge-01").id)?.device.labels["env"] === "prod");
    const r2 = await convergedAfter(w);
    const web2 = r2.desired.get(device("edge-01").id)?.get(web("2").name)?.specHash;
    expect(web2).toBe(r2.desired.get(device("prod-0000").id)?.get(web("2").name)?.specHash);
    expect(rt.running().get(web("2").name)).toBe(web2);
  });

  it("deleting everything leaves nothing behind", async () => {
    const r = await convergedAfter(world({ assignments: [] }));
    expect(desiredCount(r)).toBe(0);
    expect([...r.observed.values()].reduce((n, m) => n + m.size, 0)).toBe(0);
    for (const rt of [...prod.runtimes.values(), ...dev.runtimes.values()]) expect(rt.running().size).toBe(0);
  });
});
