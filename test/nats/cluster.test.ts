/**
 * A NATS cluster as the scale-out engine: three nats-servers on loopback
 * forming one JetStream cluster, buckets with 3 replicas. The stream leader
 * is SIGKILLed in the middle of a 20k-action apply; agents whose server dies
 * move to another member; a 10k-device simulation spread over the three
 * servers converges; a URL list with a dead server still connects; a bucket
 * with another replica count is reported, not changed.
 *
 * `npm test` runs this file after all the others, alone: its simulation is a
 * load test of the two cores, and beside 90 other files it measured the
 * machine (agents' reports minutes late), not the code.
 */
import { describe, expect, it } from "vitest";
import { device, type Device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { all, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { diff } from "../../src/diff/Diff.ts";
import { desiredCount, type Reality } from "../../src/diff/Reality.ts";
import { BackendUnavailableError, type ApplyResult } from "../../src/interpreters/Interpreter.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { runSimulation, type Simulation } from "../../src/interpreters/nats/Simulation.ts";
import { streamOf, BUCKET } from "../../src/interpreters/nats/Buckets.ts";
import { freePort } from "../support/processes.ts";
import { converged, notConverged, sleep, useNatsCluster } from "./support.ts";

const web = (tag: string) => deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}` }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));

const declared = (n: number, prefix: string): Device[] =>
  Array.from({ length: n }, (_, i) => device(`${prefix}-${String(i).padStart(6, "0")}`, { labels: { shard: String(i % 4) } }));

/** Nothing left to do: the buckets hold exactly what `w` assigns. */
const exactly = (w: World, r: Reality): void => {
  const plan = diff(w, r, { now: new Date() });
  expect(plan.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`).slice(0, 10)).toEqual([]);
};

/**
 * Re-plans from what the cluster holds and applies until nothing is left to do
 * (a few rounds at most); returns what each round did, for failure messages.
 */
const applyUntilDone = async (fleet: NatsInterpreter, w: World, rounds = 10): Promise<string[]> => {
  const trace: string[] = [];
  for (let round = 0; round < rounds; round++) {
    try {
      const plan = diff(w, (await fleet.read()).reality, { now: new Date() });
      if (plan.actions.length === 0) return trace;
      const result = await fleet.apply(plan);
      const failed = result._tag === "Completed" ? result.outcomes.filter((o) => o._tag === "Failed") : [];
      trace.push(`${plan.actions.length} actions: ${result._tag}, ${failed.length} failed${failed[0] !== undefined && failed[0]._tag === "Failed" ? ` (${failed[0].error})` : ""}`);
      if (result._tag === "Completed" && failed.length === 0) continue;
    } catch (e) {
      // The member this client is on may be moving: try again.
      trace.push(`error: ${e instanceof Error ? e.message : String(e)}`);
    }
    await sleep(1_000);
  }
  return trace;
};

type Read = Awaited<ReturnType<NatsInterpreter["read"]>>;

/**
 * `waitForReality` that rides out reads failing while a member is down or a
 * RAFT group re-elects (the interpreter's own connection may be on the member
 * that died); polls every `intervalMs`; the read `done` accepts, or the last
 * one that succeeded at the deadline.
 */
const settledRead = async (fleet: NatsInterpreter, done: (r: Reality) => boolean, timeoutMs: number, intervalMs = 250): Promise<Read> => {
  const deadline = Date.now() + timeoutMs;
  let last: Read | undefined;
  for (;;) {
    const read = await fleet.read().catch((e: unknown) => (e instanceof BackendUnavailableError ? undefined : Promise.reject(e)));
    if (read !== undefined) {
      last = read;
      if (done(read.reality)) return read;
    }
    if (Date.now() > deadline) {
      if (last === undefined) throw new Error(`no read succeeded in ${timeoutMs} ms`);
      return last;
    }
    await sleep(intervalMs);
  }
};

const settled = async (fleet: NatsInterpreter, done: (r: Reality) => boolean, timeoutMs: number, intervalMs = 250): Promise<Reality> =>
  (await settledRead(fleet, done, timeoutMs, intervalMs)).reality;

/** The member a simulation's shared connection is on now. */
const serverOf = (sim: Simulation): string | undefined => sim.connection.nc.info?.server_name;

describe("nats cluster: three servers, buckets with 3 replicas", () => {
  const cluster = useNatsCluster(3, { name: "cluster-test", replicas: 3, lockTtlMs: 3_000, lockWaitMs: 20_000 });

  it("the buckets have 3 replicas; opening them asking for another count is an error that changes nothing", async () => {
    for (const role of ["desired", "info", "state", "heartbeat", "locks"] as const) {
      expect((await cluster.fleet.buckets[role].status()).replicas, role).toBe(3);
    }
    const err = await nats({ servers: cluster.server.urls, replicas: 1 }).then(
      (n) => n.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/^NATS bucket [a-z-]+ has 3 replicas, but 1 was asked for; it is left as it is: change it with `nats stream edit KV_[a-z-]+ --replicas 1`, or ask for 3$/);
    expect((await cluster.fleet.buckets.desired.status()).replicas).toBe(3);
    // Without --replicas, existing buckets open whatever their count.
    const plain = await cluster.open({ name: "no-replicas" });
    expect((await plain.buckets.desired.status()).replicas).toBe(3);
  });

  it("a URL list with a dead server in it still connects", async () => {
    const dead = `nats://127.0.0.1:${await freePort()}`;
    for (const servers of [[dead, cluster.server.urls[0] as string], `${dead},${cluster.server.urls[1] as string}`]) {
      const client = await nats({ servers, name: "dead-first" });
      try {
        expect((await client.read()).problems).toEqual([]);
      } finally {
        await client.close();
      }
    }
  });

  it("the stream leader is SIGKILLed mid-way through a 20k-action apply and restarted: re-planning loses and duplicates nothing", async () => {
    const fleet = cluster.fleet;
    await fleet.reset();
    const w = world({ fleet: declared(16_000, "dev"), assignments: [assign(all, web("1")), assign(label("shard", "0"), metrics)] });
    const expected = 16_000 + 4_000;
    const plan = diff(w, (await fleet.read()).reality, { now: new Date() });
    expect(plan.actions.length).toBe(expected);

    const leader = await cluster.server.streamLeader(streamOf(BUCKET.desired));
    expect(leader).toBeDefined();
    let killed: Promise<void> | undefined;
    const first = await fleet.apply(plan, {
      onProgress: (p) => {
        if (killed === undefined && p.done >= 3_000) killed = leader?.kill();
      },
    }).catch((e: unknown) => e);
    expect(killed).toBeDefined();
    await killed;
    // The apply either finished on the new leader or lost writes (or its lock) while the group re-elected.
    if (!(first instanceof Error)) expect((first as ApplyResult)._tag).toBe("Completed");

    // Re-plan and apply with one member down (2 of 3 is a quorum), then bring it back.
    const trace = await applyUntilDone(fleet, w);
    await leader?.restart();
    await cluster.server.ready();
    trace.push("(leader restarted)", ...(await applyUntilDone(fleet, w)));

    // A member that rejoins serves reads while it catches up (reads time out, or see part of the bucket; a
    // whole read may be followed by a partial one, seen in CI: 20,000 then 19,917): wait for a whole read,
    // up to a bound, and judge that one; a count short of it after the bound is a loss.
    const reality = await settled(fleet, (r) => desiredCount(r) === expected, 90_000);
    expect(desiredCount(reality), trace.join("\n")).toBe(expected);
    exactly(w, reality);
    expect((await settledRead(fleet, () => true, 90_000)).problems).toEqual([]);
    // One message per key: nothing was written twice (compare-and-set) and nothing lost.
    expect((await fleet.buckets.desired.status()).values).toBe(expected);
    // The restarted member caught up: asked through it alone, the bucket holds the same.
    const direct = await nats({ servers: leader?.url as string, name: "via-restarted" });
    try {
      expect((await direct.buckets.desired.status()).values).toBe(expected);
    } finally {
      await direct.close();
    }
  }, 360_000);

  it("agents whose server is killed reconnect to another member and converge", async () => {
    const fleet = cluster.fleet;
    await fleet.reset();
    // A short resync: after a member dies, a few agents were seen to miss the change until their next resync
    // (before agents re-read entries a replica had not applied yet; kept short as a second line).
    const sim = await runSimulation({ devices: 50, nats: { servers: cluster.server.urls }, prefix: "move", latencyMs: 5, seed: 3, heartbeatIntervalMs: 1_000, resyncIntervalMs: 15_000 });
    try {
      const w1 = world({ assignments: [assign(all, web("1"))] });
      await applyUntilDone(fleet, w1);
      const r1 = await settled(fleet, (x) => x.devices.size === 50 && converged(x) && diff(w1, x, { now: new Date() }).actions.length === 0, 60_000);
      expect(notConverged(r1)).toEqual([]);

      const before = serverOf(sim);
      const victim = cluster.server.servers.find((s) => s.name === before);
      expect(victim).toBeDefined();
      await victim?.kill();
      try {
        // A change made while they are away from their first server reaches them on another one.
        const w2 = world({ assignments: [assign(all, web("2")), assign(label("shard", "1"), metrics)] });
        await applyUntilDone(fleet, w2);
        const r2 = await settled(fleet, (x) => converged(x) && diff(w2, x, { now: new Date() }).actions.length === 0, 90_000);
        expect(notConverged(r2)).toEqual([]);
        expect(desiredCount(r2)).toBe(50);
        for (const rt of sim.runtimes.values()) expect([...rt.running().keys()]).toEqual(["web"]);
        const after = serverOf(sim);
        expect(after).toBeDefined();
        expect(after).not.toBe(before);
      } finally {
        await victim?.restart();
        await cluster.server.ready();
      }
    } finally {
      await sim.stop();
    }
    // Its own bounded waits (60 s, 90 s) plus the applies, the kill and the restart: the whole can pass 180 s
    // on two cores while other test files run beside it.
  }, 360_000);

  it("a simulation of 10k devices spread over the three servers converges", async () => {
    const fleet = cluster.fleet;
    await fleet.reset();
    const total = 10_002;
    const sims: Simulation[] = [];
    // Each agent's last log lines, for the failure message of one that never reports.
    const logs = new Map<string, string[]>();
    const log = (line: string): void => {
      const id = line.slice(0, line.indexOf(":"));
      const lines = logs.get(id) ?? [];
      lines.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
      logs.set(id, lines.slice(-8));
    };
    try {
      // One simulation (one connection) per member, so the agents are spread over all three.
      for (const [i, url] of cluster.server.urls.entries()) {
        sims.push(
          await runSimulation({ devices: total / 3, nats: { servers: [url] }, prefix: `spread${i}`, latencyMs: 5, seed: i, heartbeatIntervalMs: 60_000, resyncIntervalMs: 120_000, startConcurrency: 32, log }),
        );
      }
      expect(new Set(sims.map(serverOf)).size).toBe(3);
      const w = world({ assignments: [assign(all, web("1"))] });
      // Reads of 40k entries are not free on two cores: poll every 2 s.
      await settled(fleet, (x) => x.devices.size === total, 120_000, 2_000);
      await applyUntilDone(fleet, w);
      // Agents re-read an entry their member's replica had not applied yet (Follow.ts): convergence now takes
      // seconds here (1–3 s after the apply, 80 s before that change; 239 s on a slower machine, the stragglers
      // waiting for their resync). The bound stays generous: the speed is the bench's (bench/nats-cluster.ts),
      // this test judges that every agent gets there.
      const applied = Date.now();
      const r = await settled(fleet, (x) => converged(x) && diff(w, x, { now: new Date() }).actions.length === 0, 540_000, 2_000);
      const missing = notConverged(r);
      const about = missing.slice(0, 3).map((m) => {
        const id = m.slice(0, m.indexOf("."));
        const agent = sims.flatMap((s) => s.agents).find((a) => a.deviceId === id);
        const runtime = sims.map((s) => s.runtimes.get(id as Device["id"])).find((x) => x !== undefined);
        return `${id}: reported ${JSON.stringify([...(agent?.reported() ?? new Map()).entries()])}, running ${JSON.stringify([...(runtime?.running().keys() ?? [])])}; log:\n  ${(logs.get(id) ?? ["(nothing)"]).join("\n  ")}`;
      });
      expect(missing.slice(0, 5), `${missing.length} of ${total} not converged\n${about.join("\n")}`).toEqual([]);
      // The figure docs/scale.md quotes: from the end of the apply to the last report.
      console.log(`10k cluster simulation: converged ${((Date.now() - applied) / 1000).toFixed(1)} s after the apply`);
      expect(desiredCount(r)).toBe(total);
    } finally {
      await Promise.all(sims.map((s) => s.stop()));
    }
  }, 840_000);
});
