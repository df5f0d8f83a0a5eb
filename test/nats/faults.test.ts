/**
 * Dirty edges of the NATS interpreter, on a real nats-server: a server killed
 * in the middle of a large apply, concurrent applies, corrupt records in every
 * bucket, an expired lock, a held lock, and servers that cannot serve.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { device, type Device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { all, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { diff } from "../../src/diff/Diff.ts";
import { desiredCount, desiredEntries, type Reality } from "../../src/diff/Reality.ts";
import { BackendUnavailableError, type ApplyResult } from "../../src/interpreters/Interpreter.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { freePort, startNatsServer } from "../support/nats-server.ts";
import { sleep, useNats } from "./support.ts";

const web = (tag: string) => deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}` }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));

/** A declared fleet of `n` devices (they need not be registered: entries wait for them). */
const declared = (n: number, prefix = "dev"): Device[] =>
  Array.from({ length: n }, (_, i) => device(`${prefix}-${String(i).padStart(6, "0")}`, { labels: { shard: String(i % 4) } }));

/** Every entry of `r` is exactly what `w` assigns (same keys, same spec hashes). */
const exactly = (w: World, r: Reality): void => {
  const plan = diff(w, r, { now: new Date() });
  expect(plan.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`).slice(0, 10)).toEqual([]);
};

const completedWithoutFailures = (r: ApplyResult): void => {
  expect(r._tag).toBe("Completed");
  if (r._tag === "Completed") expect(r.outcomes.filter((o) => o._tag === "Failed").slice(0, 3)).toEqual([]);
};

describe("nats faults: the server is killed in the middle of a large apply", () => {
  const crash = useNats({ name: "crash-test", lockTtlMs: 3_000, lockWaitMs: 15_000 });

  it("re-planning after a restart converges, with no entry lost or written twice", async () => {
    const { server, fleet } = crash;
    const devices = declared(20_000);
    const w = world({ fleet: devices, assignments: [assign(all, web("1")), assign(label("shard", "0"), metrics)] });
    const expected = 20_000 + 5_000;
    const plan = diff(w, (await fleet.read()).reality, { now: new Date() });
    expect(plan.actions.length).toBe(expected);

    let killed: Promise<void> | undefined;
    const first = await fleet.apply(plan, {
      onProgress: (p) => {
        if (killed === undefined && p.done >= 3_000) {
          killed = server.kill().then(() => sleep(300)).then(() => server.restart());
        }
      },
    });
    await killed;
    expect(killed).toBeDefined();
    // Writes in flight when the server died failed (or were stored and their ack lost).
    expect(first._tag).toBe("Completed");
    if (first._tag === "Completed") {
      const failed = first.outcomes.filter((o) => o._tag === "Failed").length;
      expect(first.outcomes.length).toBe(expected);
      expect(failed).toBeGreaterThan(0);
    }

    // Re-plan from what the server holds now, and apply again until nothing is left (at most a few rounds).
    for (let round = 0; round < 5; round++) {
      const r = (await fleet.read()).reality;
      const again = diff(w, r, { now: new Date() });
      if (again.actions.length === 0) break;
      expect(again.actions.every((a) => a._tag === "Create")).toBe(true);
      const result = await fleet.apply(again);
      if (result._tag === "Completed" && result.outcomes.every((o) => o._tag === "Applied")) continue;
      await sleep(500);
    }
    const { reality, problems } = await fleet.read();
    expect(problems).toEqual([]);
    expect(desiredCount(reality)).toBe(expected);
    exactly(w, reality);
    // Every key was written once: the stream holds exactly one message per entry (no overwrite, no duplicate).
    const status = await fleet.buckets.desired.status();
    expect(status.values).toBe(expected);
  }, 180_000);
});

describe("nats faults: concurrent applies, locks, corrupt records", () => {
  const pair = useNats({ name: "operator-a" });
  let a: NatsInterpreter;
  let b: NatsInterpreter;
  beforeAll(async () => {
    a = pair.fleet;
    b = await pair.open({ name: "operator-b" });
  });

  it("two applies at once from different worlds: serialised; the second is refused as stale; nothing half-applied", async () => {
    await a.reset();
    const devices = declared(3_000, "pair");
    const w1 = world({ fleet: devices, assignments: [assign(all, web("one"))] });
    const w2 = world({ fleet: devices, assignments: [assign(all, web("two")), assign(label("shard", "1"), metrics)] });
    const base = (await a.read()).reality;
    const p1 = diff(w1, base, { now: new Date() });
    const p2 = diff(w2, base, { now: new Date() });
    const [r1, r2] = await Promise.all([a.apply(p1), b.apply(p2)]);
    const tags = [r1._tag, r2._tag].sort();
    expect(tags).toEqual(["Completed", "Stale"]);
    const winner = r1._tag === "Completed" ? w1 : w2;
    const loser = r1._tag === "Completed" ? r2 : r1;
    if (loser._tag === "Stale") expect(loser.stale.length).toBeGreaterThan(0);
    const after = (await a.read()).reality;
    exactly(winner, after);

    // The loser re-plans from the new reality and wins its turn: updates, not blind overwrites.
    const other = winner === w1 ? w2 : w1;
    const replanned = diff(other, after, { now: new Date() });
    expect(replanned.actions.some((x) => x._tag === "Update")).toBe(true);
    completedWithoutFailures(await (winner === w1 ? b : a).apply(replanned));
    exactly(other, (await a.read()).reality);
  }, 120_000);

  it("a lock whose holder crashed (expired) is taken over; a live one is reported", async () => {
    await a.reset();
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    const past = new Date(Date.now() - 60_000);
    await a.buckets.locks.put("apply", enc({ v: 1, owner: "crashed@host:1/x", acquired: past.toISOString(), expires: new Date(past.getTime() + 1000).toISOString() }));
    const devices = declared(5, "lk");
    const w = world({ fleet: devices, assignments: [assign(all, web("1"))] });
    completedWithoutFailures(await a.apply(diff(w, (await a.read()).reality, { now: new Date() })));
    exactly(w, (await a.read()).reality);
    // Released after use: nothing holds it now.
    const after = await a.buckets.locks.get("apply");
    expect(after === null || after.operation !== "PUT").toBe(true);

    // A live lock held by someone else: refused with its holder, nothing written.
    const quick = await pair.open({ name: "impatient", lockWaitMs: 0 });
    try {
      const future = new Date(Date.now() + 60_000);
      await a.buckets.locks.put("apply", enc({ v: 1, owner: "busy@elsewhere", acquired: new Date().toISOString(), expires: future.toISOString() }));
      const w2 = world({ fleet: devices, assignments: [assign(all, web("2"))] });
      const r = await quick.apply(diff(w2, (await quick.read()).reality, { now: new Date() }));
      expect(r._tag).toBe("Locked");
      if (r._tag === "Locked") {
        // A lock value written without an id (older writers) is named, and broken, by its owner string.
        expect(r.holder).toBe("busy@elsewhere (lock ID busy@elsewhere)");
        expect(r.until?.toISOString()).toBe(future.toISOString());
      }
      exactly(w, (await a.read()).reality);
    } finally {
      await quick.close();
      await a.buckets.locks.delete("apply");
    }
  });

  it("an apply that loses its lock mid-way stops writing; re-planning converges", async () => {
    await a.reset();
    // A short lock renews every 100 ms: the theft must be seen while most of the 20k writes are still to come
    // (with a 600 ms lock, a quiet machine wrote the rest before its next renewal and never noticed).
    const short = await pair.open({ name: "short-lock", lockTtlMs: 300 });
    try {
      const w = world({ fleet: declared(20_000, "ll"), assignments: [assign(all, web("1"))] });
      const plan = diff(w, (await short.read()).reality, { now: new Date() });
      let stolen: Promise<number> | undefined;
      const result = await short.apply(plan, {
        onProgress: (p) => {
          if (stolen === undefined && p.done >= 1_000) {
            // Another control plane takes the lock over (as if ours had expired).
            const until = new Date(Date.now() + 60_000).toISOString();
            stolen = a.buckets.locks.put("apply", new TextEncoder().encode(JSON.stringify({ v: 1, owner: "thief", acquired: new Date().toISOString(), expires: until })));
          }
        },
      });
      await stolen;
      expect(result._tag).toBe("Completed");
      if (result._tag === "Completed") {
        const failed = result.outcomes.filter((o) => o._tag === "Failed");
        expect(failed.length).toBeGreaterThan(0);
        // Taken over, as here; on a loaded machine a renewal can also come too late first: either way it stops writing.
        expect(failed.every((o) => o._tag === "Failed" && /not written: the apply lock (was taken over|expired before it could be renewed)/.test(o.error))).toBe(true);
      }
      await a.buckets.locks.delete("apply");
      completedWithoutFailures(await short.apply(diff(w, (await short.read()).reality, { now: new Date() })));
      exactly(w, (await short.read()).reality);
    } finally {
      await short.close();
    }
  }, 120_000);

  it("garbage and truncated values in every bucket are reported with their key and skipped; the rest is read", async () => {
    await a.reset();
    const good = [device("ok-01", { labels: { env: "prod" } }), device("ok-02", { labels: { env: "prod" } })];
    const victims = ["pi-01", "pi-02", "pi-03", "pi-04", "pi-05", "pi-06"].map((id) => device(id, { labels: { env: "prod" } }));
    const at = new Date();
    for (const d of [...good, ...victims]) await a.register(d, at);
    const w = world({ assignments: [assign(label("env", "prod"), web("1"))] });
    completedWithoutFailures(await a.apply(diff(w, (await a.read()).reality, { now: new Date() })));
    for (const d of [...good, ...victims]) await a.report({ device: d.id, deployment: web("1").name, phase: "Running", specHash: specHash(web("1")), at });

    const raw = (s: string) => new TextEncoder().encode(s);
    const { desired, info, state, heartbeat } = a.buckets;
    await desired.put("pi-01.web", raw("\u0000garbage\u00ff"));
    await info.put("pi-02", raw('{"v":1,"id":"pi-02","labels":{"env":"pr'));
    await state.put("pi-03.web", raw('{"v":1,"phase":"Sleeping","time":"2026-01-01T00:00:00Z"}'));
    await heartbeat.put("pi-04", raw('{"v":2,"time":"2026-01-01T00:00:00Z"}'));
    await desired.put("pi-05.Bad_Name", raw("{}"));
    await info.put("pi-06", raw(JSON.stringify({ v: 1, id: "someone-else" })));
    await info.put("Not_A_Device", raw(JSON.stringify({ v: 1, id: "x" })));
    await state.put("also.bad.key", raw("{}"));

    const { reality, problems } = await a.read();
    const where = problems.map((p) => `${p.source} ${p.key}`);
    expect(where).toEqual([
      "desired-state pi-01.web",
      "desired-state pi-05.Bad_Name",
      "device-heartbeat pi-04",
      "device-info Not_A_Device",
      "device-info pi-02",
      "device-info pi-06",
      "device-state also.bad.key",
      "device-state pi-03.web",
    ]);
    for (const p of problems) expect(p.message.length).toBeGreaterThan(0);
    expect(problems.find((p) => p.key === "pi-02")?.message).toMatch(/not JSON/);
    expect(problems.find((p) => p.key === "pi-04")?.message).toMatch(/unsupported wire version 2/);
    // A key that still names a device (its first part is a valid id) damages that device, even an unknown one.
    expect([...reality.damaged.keys()].sort()).toEqual(["also", "pi-01", "pi-02", "pi-03", "pi-04", "pi-05", "pi-06"]);
    // The healthy devices read completely.
    for (const d of good) {
      expect(reality.devices.get(d.id)?.device.labels).toEqual({ env: "prod" });
      expect(reality.desired.get(d.id)?.get(web("1").name)?.specHash).toBe(specHash(web("1")));
      expect(reality.observed.get(d.id)?.get(web("1").name)?.phase).toBe("Running");
    }
    // The diff leaves damaged devices alone and still acts on the others.
    const plan = diff(world({ assignments: [assign(label("env", "prod"), web("2"))] }), reality, { now: new Date() });
    expect(plan.actions.map((x) => x.device).sort()).toEqual(["ok-01", "ok-02"]);
    expect(plan.skipped.map((s) => s.device).sort()).toEqual(expect.arrayContaining(["pi-01", "pi-02", "pi-03", "pi-04", "pi-05", "pi-06"]));
    expect([...desiredEntries(reality)].length).toBeGreaterThan(0);
  });

  it("buckets with another replica count than asked for: one clear error, the buckets left as they are", async () => {
    // Created with 1 replica (the fixture gave none); a single server cannot have more.
    expect((await a.buckets.desired.status()).replicas).toBe(1);
    const err = await nats({ servers: pair.server.url, replicas: 3 }).then(
      (n) => n.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(/^NATS bucket [a-z-]+ has 1 replica, but 3 were asked for; it is left as it is: change it with `nats stream edit KV_[a-z-]+ --replicas 3`, or ask for 1$/);
    expect((await a.buckets.desired.status()).replicas).toBe(1);
    // Asking for what they have is fine.
    await (await pair.open({ name: "replicas-1", replicas: 1 })).close();
  });

  it("an update whose entry changed after the plan was made is refused as stale, key by key", async () => {
    await a.reset();
    const devices = declared(4, "st");
    const w1 = world({ fleet: devices, assignments: [assign(all, web("1"))] });
    completedWithoutFailures(await a.apply(diff(w1, (await a.read()).reality, { now: new Date() })));
    const plan = diff(world({ fleet: devices, assignments: [assign(all, web("2"))] }), (await a.read()).reality, { now: new Date() });
    // Someone rewrites one entry behind the plan's back.
    const victim = devices[2] as Device;
    await a.buckets.desired.put(`${victim.id}.web`, new TextEncoder().encode(JSON.stringify({ v: 1, specHash: specHash(web("x")), spec: web("x") })));
    const r = await a.apply(plan);
    expect(r._tag).toBe("Stale");
    if (r._tag === "Stale") expect(r.stale.map((s) => s.device)).toEqual([victim.id]);
    const now = (await a.read()).reality;
    for (const d of devices) expect(now.desired.get(d.id)?.get(web("1").name)?.specHash).toBe(d.id === victim.id ? specHash(web("x")) : specHash(web("1")));
  });
});

describe("nats faults: servers that cannot serve", () => {
  it("an unreachable server is one clear error", async () => {
    const port = await freePort();
    const err = await nats({ servers: `nats://127.0.0.1:${port}` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`NATS server nats://127.0.0.1:${port} is unreachable`));
    expect((err as Error).message.split("\n")).toHaveLength(1);
  });

  it("a server that goes away after connecting: read and apply fail with one clear error", async () => {
    const server = await startNatsServer();
    const fleet = await nats({ servers: server.url, name: "gone", lockWaitMs: 0 });
    try {
      await server.kill();
      const readErr = await fleet.read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(readErr).toBeInstanceOf(BackendUnavailableError);
      expect((readErr as Error).message).toMatch(/^NATS: reading the fleet failed: /);
      const w = world({ fleet: declared(3, "gone"), assignments: [assign(all, web("1"))] });
      const applyErr = await fleet.apply(diff(w, { devices: new Map(), desired: new Map(), observed: new Map(), damaged: new Map() }, { now: new Date() })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(applyErr).toBeInstanceOf(BackendUnavailableError);
      expect((applyErr as Error).message).toMatch(/^NATS: applying failed: /);
    } finally {
      await fleet.close();
      await server.stop();
    }
  }, 60_000);

  it("a server without JetStream is one clear error", async () => {
    const server = await startNatsServer({ noJetStream: true });
    try {
      const err = await nats({ servers: server.url }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toMatch(/does not have JetStream enabled/);
    } finally {
      await server.stop();
    }
  });

  it("refused credentials are one clear error", async () => {
    const server = await startNatsServer({ extraArgs: ["--auth", "s3cret"] });
    try {
      const err = await nats({ servers: server.url, token: "wrong" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toMatch(/refused the credentials/);
      const ok = await nats({ servers: server.url, token: "s3cret" });
      await ok.close();
    } finally {
      await server.stop();
    }
  });
});
