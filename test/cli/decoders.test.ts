/**
 * The CLI's decoders against garbage: flag values, backend flags and their
 * environment, saved plans, state files, lock files and fleet-file exports.
 * Each must answer with a clear message (a non-empty string) and never throw,
 * whatever the input; valid inputs round-trip. Fixed seed (test/laws/setup.ts).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { diff } from "../../src/diff/Diff.ts";
import { desiredEntries, reality } from "../../src/diff/Reality.ts";
import { applyPlan } from "../../src/diff/Apply.ts";
import { encodeRecord } from "../../src/diff/Ledger.ts";
import { summarise, type Action } from "../../src/diff/Plan.ts";
import { rollout } from "../../src/world/Rollout.ts";
import { all, and, arch, hasLabel, label, labelGt, labelIn, not, or } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, worldHash } from "../../src/world/World.ts";
import { MAX_DURATION_MS, parseChoice, parseDuration, parseEntryKey } from "../../src/cli/Args.ts";
import { backendConfig, backendFlags, type BackendValues } from "../../src/cli/backends.ts";
import { decodeSavedPlan, encodeSavedPlan, realityDigest, type SavedPlan } from "../../src/cli/SavedPlan.ts";
import { decodeWorld } from "../../src/cli/WorldCodec.ts";
import { RolloutCodec } from "../../src/algebra/Rollout.ts";
import { formatValidationErrors } from "../../src/algebra/DecodeError.ts";
import { decodeLock } from "../../src/interpreters/local/Lock.ts";
import { emptyState } from "../../src/interpreters/local/StateFile.ts";
import { decodeState, encodeState } from "../../src/interpreters/local/StateRecords.ts";

// -------------------------------------------------------------------------------------
// fixtures
// -------------------------------------------------------------------------------------

const web = (image: string) => deployment("web", podman({ services: [{ name: "httpd", image, ports: [{ container: 80, host: 8080 }], env: { A: "1" } }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "exporter:1" }] }));
const fleet = [
  device("pi-01", { labels: { env: "prod", gen: "4" }, arch: "aarch64" }),
  device("pi-02", { labels: { env: "prod" }, arch: "aarch64" }),
  device("nuc-01", { labels: { env: "dev" }, arch: "x86_64" }),
];
const w = world({
  fleet,
  assignments: [
    assign(and(label("env", "prod"), or(arch("aarch64"), labelGt("gen", 3))), web("web:1"), { name: "prod-web" }),
    assign(not(hasLabel("quarantine")), metrics),
    assign(labelIn("env", ["dev", "staging"]), web("web:2"), { priority: 5 }),
    assign("@id in (pi-02)", web("web:3"), { priority: 9, name: "pin" }),
  ],
});
const published = reality({
  devices: fleet.map((d) => ({ device: d, lastHeartbeat: new Date(0) })),
  desired: [{ device: fleet[0]!.id, deployment: web("old").name, specHash: "sha256:old", fingerprint: "r1.abc" }, { device: fleet[2]!.id, deployment: "gone" as never, specHash: "sha256:x", fingerprint: "r2.abc" }],
});
const plan = diff(w, published, { now: new Date(1000) });
const saved: SavedPlan = {
  createdAt: new Date(2000),
  fleetVersion: "0.1.0",
  files: ["fleets/demo.ts"],
  cwd: "/work",
  world: w,
  worldHash: worldHash(w),
  reality: realityDigest(published),
  backend: "local /work/.fleet",
  now: new Date(1000),
  plan,
};
const savedText = encodeSavedPlan(saved);
const stateText = encodeState({ ...emptyState(), serial: 3, revision: 2, reality: published });
// A staged rollout one step in: a ledger record, and entries that carry their prior spec hash.
const stagedWorld = (image: string) =>
  world({ fleet, assignments: [assign(all, deployment("web", podman({ services: [{ name: "httpd", image }] }), { rollout: rollout({ waves: [1, 1] }) }))] });
const stagedState = (() => {
  const v1 = applyPlan(reality({ devices: fleet.map((d) => ({ device: d, lastHeartbeat: new Date(0) })) }), diff(world({ fleet, assignments: [assign(all, web("web:1"))] }), published, { now: new Date(0) }));
  return applyPlan(v1, diff(stagedWorld("web:2"), v1, { now: new Date(1000) }));
})();
const stagedStateText = encodeState({ ...emptyState(), serial: 4, revision: 3, reality: stagedState });

/** Replaces the value at one path of a JSON value (chosen by `n` among all paths) with `v`. */
const mutate = (json: unknown, n: number, v: unknown): unknown => {
  const paths: Array<Array<string | number>> = [[]];
  const walk = (x: unknown, p: Array<string | number>): void => {
    if (Array.isArray(x)) x.forEach((y, i) => (paths.push([...p, i]), walk(y, [...p, i])));
    else if (typeof x === "object" && x !== null) for (const [k, y] of Object.entries(x)) paths.push([...p, k]), walk(y, [...p, k]);
  };
  walk(json, []);
  const path = paths[n % paths.length] as Array<string | number>;
  if (path.length === 0) return v;
  const copy = structuredClone(json) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = v;
  return copy;
};

const garbageText = (valid: string) =>
  fc.oneof(
    fc.string(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.tuple(fc.nat(), fc.jsonValue()).map(([n, v]) => JSON.stringify(mutate(JSON.parse(valid), n, v))),
    fc.nat({ max: valid.length }).map((n) => valid.slice(0, n)),
  );

/** Line-format garbage: a line replaced, dropped, doubled or cut, columns run together, or the text cut short. */
const garbageLines = (valid: string) => {
  const lines = valid.split("\n");
  const at = fc.nat({ max: lines.length - 1 });
  const edit = (i: number, f: (ls: string[]) => void): string => {
    const ls = [...lines];
    f(ls);
    return ls.join("\n");
  };
  return fc.oneof(
    fc.tuple(at, fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)))).map(([i, g]) => edit(i, (ls) => void (ls[i] = g))),
    fc.tuple(at, fc.string()).map(([i, g]) => edit(i, (ls) => void (ls[i] = `pi-01\t${g}`))),
    at.map((i) => edit(i, (ls) => void ls.splice(i, 1))),
    at.map((i) => edit(i, (ls) => void ls.splice(i, 0, ls[i] as string))),
    fc.tuple(at, fc.nat()).map(([i, n]) => edit(i, (ls) => void (ls[i] = (ls[i] as string).slice(0, n % ((ls[i] as string).length + 1))))),
    at.map((i) => edit(i, (ls) => void (ls[i] = (ls[i] as string).replace("\t", "")))),
    fc.nat({ max: valid.length }).map((n) => valid.slice(0, n)),
  );
};

const isMessage = (s: unknown): boolean => typeof s === "string" && s.length > 0 && !s.includes("\n    at ");

// -------------------------------------------------------------------------------------
// properties
// -------------------------------------------------------------------------------------

describe("flag-value decoders", () => {
  it("durations: known forms decode, anything else is a message naming the flag", () => {
    expect(parseDuration("--lock-timeout", "30s")).toEqual(E.right(30_000));
    expect(parseDuration("--lock-timeout", "500ms")).toEqual(E.right(500));
    expect(parseDuration("--lock-timeout", "1.5s")).toEqual(E.right(1500));
    expect(parseDuration("--lock-timeout", "5m")).toEqual(E.right(300_000));
    expect(parseDuration("--lock-timeout", "10")).toEqual(E.right(10_000));
    for (const bad of ["", "s", "-1s", "1d", "1 s", "25h", "Infinity", "1e3"]) expect(E.isLeft(parseDuration("--lock-timeout", bad))).toBe(true);
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseDuration("--x", s);
        return E.isLeft(r) ? r.left.startsWith("--x: ") : Number.isSafeInteger(r.right) && r.right >= 0 && r.right <= MAX_DURATION_MS;
      }),
    );
  });

  it("entry keys and choices never throw", () => {
    expect(parseEntryKey("--fail", "pi-01.web=boom")).toEqual(E.right({ device: "pi-01", deployment: "web", message: "boom" }));
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseEntryKey("--fail", s);
        const c = parseChoice("--group-by", ["device", "deployment"], s);
        return (E.isLeft(r) ? isMessage(r.left) : r.right.device.length > 0) && (E.isLeft(c) ? isMessage(c.left) : s === "device" || s === "deployment");
      }),
    );
  });

  it("backend flags and environment: a config or one message, never a throw", () => {
    const keys = Object.keys(backendFlags) as Array<keyof typeof backendFlags>;
    const values = fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.string(), fc.constantFrom("local", "nats", "kube", "podman", "nats://h:4222", "30s")), { maxKeys: 4 }).map((d) => {
      const out: Record<string, string | boolean> = {};
      for (const [k, v] of Object.entries(d)) out[k] = backendFlags[k as keyof typeof backendFlags].type === "boolean" ? v.length % 2 === 0 : v;
      return out as BackendValues;
    });
    const env = fc.dictionary(fc.constantFrom("FLEET_BACKEND", "FLEET_STATE_DIR", "FLEET_NATS_URL", "FLEET_NATS_TOKEN"), fc.string(), { maxKeys: 3 });
    fc.assert(
      fc.property(values, env, (v, e) => {
        const r = backendConfig(v, e, "/tmp");
        return E.isLeft(r) ? isMessage(r.left) : ["local", "nats", "kube", "podman"].includes(r.right._tag);
      }),
    );
    expect(backendConfig({ nats: "nats://a:4222" }, {}, "/tmp")).toEqual(E.left("--nats is a flag of the nats backend, but the backend is local (add --backend nats)"));
    expect(backendConfig({}, { FLEET_BACKEND: "nats", FLEET_NATS_URL: "nats://a:1,nats://b:2" }, "/tmp")).toEqual(E.right({ _tag: "nats", servers: ["nats://a:1", "nats://b:2"] }));
    expect(backendConfig({ backend: "podman", "device-id": "here", "device-labels": "env=prod,site=a", "device-arch": "aarch64" }, {}, "/tmp")).toEqual(
      E.right({ _tag: "podman", deviceId: "here", labels: { env: "prod", site: "a" }, arch: "aarch64" }),
    );
    expect(backendConfig({ backend: "podman", "device-labels": "env" }, {}, "/tmp")).toEqual(E.left('--device-labels: expected k=v[,k=v...], got "env"'));
    expect(backendConfig({ backend: "podman", "device-arch": "ARM 64" }, {}, "/tmp")._tag).toBe("Left");
  });
});

describe("file decoders", () => {
  it("a saved plan round-trips", () => {
    const d = decodeSavedPlan(savedText);
    if (E.isLeft(d)) throw new Error(d.left);
    expect(d.right.plan.actions).toEqual(plan.actions);
    expect(d.right.plan.summary).toEqual(plan.summary);
    expect(worldHash(d.right.world)).toBe(worldHash(w));
    expect(encodeSavedPlan(d.right)).toBe(savedText);
  });

  it("a saved plan of a staged rollout step carries its ledger, priors, rollbacks and RolledBack deletes, and garbage in them is one message", () => {
    const stagedPlan = diff(stagedWorld("web:3"), stagedState, { now: new Date(2000) });
    expect(stagedPlan.ledger?.length ?? 0).toBeGreaterThan(0);
    // A rollback and a RolledBack delete, as a failed rollout with `rollback` plans them.
    const [first, ...rest] = stagedPlan.actions.filter((a) => a._tag === "Update");
    const back = first === undefined ? [] : [{ ...first, rollback: "wave 1: 1 of 1 failed", prior: null }];
    const gone: Action = { _tag: "Delete", device: "zz-9" as never, deployment: "web" as never, previous: { specHash: "sha256:x", fingerprint: "r9" }, reason: { _tag: "RolledBack", why: "wave 1 failed" }, presence: "online" };
    const actions = [...back, ...rest, ...stagedPlan.actions.filter((a) => a._tag !== "Update"), gone];
    const p = { ...stagedPlan, actions, summary: summarise(actions, { unchanged: 0, devices: 3, conflicts: 0, skipped: 0 }) };
    const text = encodeSavedPlan({ ...saved, plan: p });
    const d = decodeSavedPlan(text);
    if (E.isLeft(d)) throw new Error(d.left);
    expect(d.right.plan.actions).toEqual(p.actions);
    expect(d.right.plan.ledger?.map((w) => (w._tag === "Put" ? encodeRecord(w.record) : w))).toEqual(p.ledger?.map((w) => (w._tag === "Put" ? encodeRecord(w.record) : w)));
    expect(encodeSavedPlan(d.right)).toBe(text);
    fc.assert(
      fc.property(garbageText(text), (g) => {
        const r = decodeSavedPlan(g);
        return E.isLeft(r) ? isMessage(r.left) : true;
      }),
      { numRuns: 300 },
    );
  });

  it("garbage saved plans: one message, never a throw", () => {
    fc.assert(
      fc.property(garbageText(savedText), (text) => {
        const r = decodeSavedPlan(text);
        return E.isLeft(r) ? isMessage(r.left) : r.right.plan.actions.length >= 0;
      }),
      { numRuns: 300 },
    );
  });

  it("a state file round-trips, and garbage is Corrupt with a reason or decodes with problems", () => {
    const d = decodeState(stateText);
    if (d._tag !== "Ok") throw new Error(d.reason);
    expect(d.problems).toEqual([]);
    expect(encodeState(d.state)).toBe(stateText);
    fc.assert(
      fc.property(garbageLines(stateText), (text) => {
        const r = decodeState(text);
        if (r._tag === "Corrupt") return isMessage(r.reason);
        // A decodable file re-encodes without losing what it could not read.
        const again = decodeState(encodeState(r.state));
        return again._tag === "Ok" && again.problems.length === r.problems.filter((p) => !p.key.startsWith("damaged[")).length && r.problems.every((p) => isMessage(p.message));
      }),
      { numRuns: 300 },
    );
  });

  it("a version-3 state (rollout ledgers, entry priors) round-trips; garbage in its header or lines is Corrupt or problems", () => {
    const d = decodeState(stagedStateText);
    if (d._tag !== "Ok") throw new Error(d.reason);
    expect(d.problems).toEqual([]);
    expect(stagedStateText.startsWith('{"format":"fleet-local-state","version":3')).toBe(true);
    expect(d.state.reality.rollouts?.size).toBe(1);
    expect([...desiredEntries(d.state.reality)].filter((e) => e.prior !== undefined).length).toBeGreaterThan(0);
    expect(encodeState(d.state)).toBe(stagedStateText);
    const [header = "", ...rest] = stagedStateText.split("\n");
    const headerGarbage = fc.tuple(fc.nat(), fc.jsonValue()).map(([n, v]) => [JSON.stringify(mutate(JSON.parse(header), n, v)), ...rest].join("\n"));
    fc.assert(
      fc.property(fc.oneof(garbageLines(stagedStateText), headerGarbage), (text) => {
        const r = decodeState(text);
        if (r._tag === "Corrupt") return isMessage(r.reason);
        const again = decodeState(encodeState(r.state));
        return again._tag === "Ok" && r.problems.every((p) => isMessage(p.message));
      }),
      { numRuns: 300 },
    );
  });

  it("lock files never throw", () => {
    fc.assert(
      fc.property(garbageText(JSON.stringify({ id: "x", pid: 1, who: "a", host: "h", created: "now", operation: "apply", version: "1" })), (text) => {
        const r = decodeLock(text);
        return r._tag === "Held" ? typeof r.info.id === "string" : r._tag === "Unreadable" && isMessage(r.reason);
      }),
    );
  });

  it("a World's JSON shape decodes to the same World; anything else is problems with paths", () => {
    const json = JSON.parse(JSON.stringify(w)) as unknown;
    const d = decodeWorld(json);
    if (E.isLeft(d)) throw new Error(JSON.stringify(d.left));
    expect(worldHash(d.right)).toBe(worldHash(w));
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.tuple(fc.nat(), fc.jsonValue()).map(([n, v]) => mutate(json, n, v))), (u) => {
        const r = decodeWorld(u);
        return E.isLeft(r) ? r.left.length > 0 && r.left.every((p) => isMessage(p.message)) : r.right._tag === "World";
      }),
      { numRuns: 300 },
    );
  });
});

// -------------------------------------------------------------------------------------
// rollout policies (a fleet file's or a JSON World's `rollout`)
// -------------------------------------------------------------------------------------

describe("RolloutCodec and a World's rollout", () => {
  const quantity = fc.oneof(fc.integer({ min: -5, max: 500 }), fc.double(), fc.string(), fc.constantFrom("10%", "0%", "100%", "150%", "5.5%", " 20% ", "-1%", "%", "1e2%"), fc.anything());
  const percent = fc.oneof(fc.integer({ min: -50, max: 200 }), fc.double(), fc.constantFrom("95%", "101%", "x%"), fc.anything());
  const selectorText = fc.oneof(fc.string(), fc.constantFrom("site=lab", "site in (", "env!=prod,arch=aarch64", "", " ", "!x", "a=b=c"));
  const wave = fc.record({ selector: selectorText, limit: quantity, successThreshold: percent }, { requiredKeys: [] });
  const policy = fc.oneof(
    fc.anything(),
    fc.record(
      {
        _tag: fc.constantFrom("Waves", "Immediate", "Canary"),
        waves: fc.oneof(fc.array(fc.oneof(wave, fc.anything()), { maxLength: 5 }), fc.anything()),
        budget: fc.oneof(fc.record({ groupBy: fc.oneof(fc.array(fc.oneof(fc.constantFrom("site", "env", "Bad Key"), fc.string())), fc.anything()), maxUnavailable: quantity, minAvailable: quantity }, { requiredKeys: [] }), fc.anything()),
        successThreshold: percent,
        waveTimeoutSeconds: fc.oneof(fc.constantFrom("30m", "2h", "0s", "soon", 0, -1, 30), fc.anything()),
        offline: fc.constantFrom("defer", "block"),
        onFailure: fc.constantFrom("pause", "rollback", "panic"),
      },
      { requiredKeys: ["_tag"] },
    ),
  );

  it("never throws on garbage, and says why it rejects", () =>
    fc.assert(
      fc.property(policy, (u) => {
        const r = RolloutCodec.decode(u);
        return E.isRight(r) || formatValidationErrors(r.left).trim().length > 0;
      }),
      { numRuns: 500 },
    ));

  it("accepts only policies within bounds: no percentage over 100, thresholds in 0..100, a budget that lets a device through", () =>
    fc.assert(
      fc.property(policy, (u) => {
        const r = RolloutCodec.decode(u);
        if (E.isLeft(r) || r.right._tag === "Immediate") return true;
        const p = r.right;
        const pct = (q: unknown): boolean => typeof q !== "string" || Number(q.slice(0, -1)) <= 100;
        const b = p.budget;
        return (
          p.successThreshold >= 0 &&
          p.successThreshold <= 100 &&
          p.waves.every((w) => pct(w.limit) && (w.successThreshold === undefined || (w.successThreshold >= 0 && w.successThreshold <= 100))) &&
          (b === undefined || (pct(b.maxUnavailable) && pct(b.minAvailable) && b.maxUnavailable !== 0 && b.minAvailable !== "100%"))
        );
      }),
      { numRuns: 500 },
    ));

  it("decodeWorld checks a rollout's wave selectors parse, naming the deployment's path and the wave", () => {
    const good = world({ fleet, assignments: [assign("env=prod", deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2" }] }), { rollout: rollout({ waves: ["10%"] }) }))] });
    const json = JSON.parse(JSON.stringify(good)) as { assignments: Array<{ deployments: Array<{ rollout: { waves: Array<Record<string, unknown>> } }> }> };
    expect(E.isRight(decodeWorld(json))).toBe(true);
    (json.assignments[0]!.deployments[0]!.rollout.waves[0] as Record<string, unknown>).selector = "site in (";
    const bad = decodeWorld(json);
    expect(E.isLeft(bad)).toBe(true);
    if (E.isLeft(bad)) expect(bad.left.map((p) => `${p.path}: ${p.message}`).join("; ")).toMatch(/^assignments\.0\.deployments\.0: rollout\.waves\[0\]\.selector: expected a value/);
  });

  it("decodeWorld never throws on garbage wave selectors", () =>
    fc.assert(
      fc.property(selectorText, (s) => {
        const json = JSON.parse(JSON.stringify(w)) as { assignments: Array<{ deployments: Array<Record<string, unknown>> }> };
        json.assignments[0]!.deployments[0]!.rollout = { _tag: "Waves", waves: [{ selector: s }] };
        const r = decodeWorld(json);
        return E.isRight(r) || r.left.every((p) => p.message.length > 0);
      }),
      { numRuns: 300 },
    ));
});
