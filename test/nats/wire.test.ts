/**
 * The NATS wire formats: every value written decodes to what was written;
 * readers are permissive about extra fields; every malformed value or key is
 * a message, never an exception.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { EqDevice } from "../../src/algebra/Device.ts";
import {
  decodeDesiredValue,
  desiredValueDecoder,
  decodeDeviceInfoValue,
  decodeDeviceStateValue,
  decodeHeartbeatValue,
  encodeDesiredValue,
  encodeDeviceInfoValue,
  encodeDeviceStateValue,
  encodeHeartbeatValue,
  encodeRolloutValue,
  decodeRolloutValue,
  desiredPartsDecoder,
  rolloutBucketKey,
  formatWireError,
  parseDeviceKey,
  parseEntryKey,
  type WireError,
} from "../../src/interpreters/nats/wire.ts";
import { recordChanges } from "../../src/interpreters/nats/PlannerFeed.ts";
import { deploymentArb, deviceArb } from "../laws/arbitraries.ts";
import { encodeRecord, keyOf as rolloutKeyOf, type RolloutRecord } from "../../src/diff/Ledger.ts";

/** The one-line message of a refusal, or "" for a success. */
const why = (r: E.Either<WireError, unknown>): string => (E.isLeft(r) ? formatWireError(r.left) : "");

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const dateArb = fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true });
const keyOf = (device: string, deployment: string) => {
  const k = parseEntryKey(`${device}.${deployment}`);
  if (E.isLeft(k)) throw new Error(k.left.message);
  return k.right;
};

const sigArb = fc.record({
  device: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
  deployment: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
  revision: fc.nat(),
  index: fc.nat({ max: 255 }),
  proof: fc.base64String(),
  jws: fc.string(),
});

describe("nats wire: round trips", () => {
  it("desired-state: a signed value decodes to its spec, hash and signature; unsigned values still decode", () => {
    fc.assert(
      fc.property(deploymentArb, sigArb, sigArb, (d, sig, sig2) => {
        const decode = desiredValueDecoder();
        const a = decode(encodeDesiredValue(d, specHash(d), sig), keyOf("pi-01", d.name));
        const b = decode(encodeDesiredValue(d, specHash(d), sig2), keyOf("pi-01", d.name));
        expect(a).toEqual(E.right({ spec: d, specHash: specHash(d), signature: sig }));
        expect(b).toEqual(E.right({ spec: d, specHash: specHash(d), signature: sig2 }));
        // Unsigned, the same spec: what an older control plane wrote still decodes.
        expect(decode(encodeDesiredValue(d, specHash(d)), keyOf("pi-01", d.name))).toEqual(E.right({ spec: d, specHash: specHash(d) }));
      }),
    );
  });

  it("desired-state: a `sig` that is not a signature makes the value unreadable, naming the field", () => {
    const d = deployment("web", podman({ services: [{ name: "s", image: "i:1" }] }));
    const text = new TextDecoder().decode(encodeDesiredValue(d, specHash(d))).slice(0, -1) + ',"sig":{"device":"pi-01"}}';
    expect(why(decodeDesiredValue(utf8(text), keyOf("pi-01", "web")))).toMatch(/^sig\./);
  });

  it("desired-state: decode(encode(spec)) is the spec and its hash", () => {
    fc.assert(
      fc.property(deploymentArb, (d) => {
        const got = decodeDesiredValue(encodeDesiredValue(d, specHash(d)), keyOf("pi-01", d.name));
        expect(E.isRight(got)).toBe(true);
        if (E.isRight(got)) {
          expect(got.right.specHash).toBe(specHash(d));
          expect(specHash(got.right.spec)).toBe(specHash(d));
          expect(got.right.spec).toEqual(d);
        }
      }),
    );
  });

  it("device-info: decode(encode(device)) equals the device", () => {
    fc.assert(
      fc.property(deviceArb, (d) => {
        const got = decodeDeviceInfoValue(encodeDeviceInfoValue(d), d.id);
        expect(E.isRight(got) && EqDevice.equals(got.right, d)).toBe(true);
      }),
    );
  });

  it("device-state and heartbeat round trip", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("Pending" as const, "Running" as const, "Failed" as const),
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        dateArb,
        fc.option(fc.constantFrom("starting" as const, "healthy" as const, "unhealthy" as const), { nil: undefined }),
        (phase, hash, error, time, health) => {
          const s = { phase, time, ...(hash !== undefined ? { specHash: hash } : {}), ...(error !== undefined ? { error } : {}), ...(health !== undefined ? { health } : {}) };
          expect(decodeDeviceStateValue(encodeDeviceStateValue(s))).toEqual(E.right(s));
          expect(decodeHeartbeatValue(encodeHeartbeatValue({ time, agentVersion: "1.2.3" }))).toEqual(E.right({ time, agentVersion: "1.2.3" }));
        },
      ),
    );
  });
});

const hashArb = fc.stringMatching(/^[0-9a-f]{8,64}$/).map((h) => `sha256:${h}`);
const recordArb: fc.Arbitrary<RolloutRecord> = fc
  .tuple(deploymentArb, hashArb, dateArb, fc.array(dateArb, { minLength: 1, maxLength: 3 }), fc.option(hashArb, { nil: undefined }), fc.boolean())
  .map(([d, target, startedAt, opened, base, failed]) => ({
    deployment: d.name,
    target,
    startedAt,
    waves: opened.map((openedAt, i) => (i === 0 ? { openedAt, pinned: ["pi-01" as never] } : { openedAt })),
    ...(base !== undefined ? { base, priors: { [base]: d } } : { priors: {} }),
    ...(failed ? { outcome: { _tag: "Failed" as const, wave: 0, at: startedAt, reason: "1 of 1 failed", then: "rollback" as const } } : {}),
  }));

describe("nats wire: rollouts", () => {
  it("desired-state: `prior` round-trips (a hash or null) with or without a signature; agents' parts decoder ignores it, whatever it holds", () => {
    fc.assert(
      fc.property(deploymentArb, fc.option(hashArb, { nil: null }), fc.option(sigArb, { nil: undefined }), (d, prior, sig) => {
        const h = specHash(d);
        const r = decodeDesiredValue(encodeDesiredValue(d, h, sig, prior), keyOf("pi-01", d.name));
        expect(E.isRight(r) && r.right.prior).toBe(prior);
        expect(E.isRight(decodeDesiredValue(encodeDesiredValue(d, h, sig), keyOf("pi-01", d.name))) && "prior" in (decodeDesiredValue(encodeDesiredValue(d, h), keyOf("pi-01", d.name)) as E.Right<object>).right).toBe(false);
      }),
      { numRuns: 100 },
    );
    const d = deployment("web", podman({ services: [{ name: "a", image: "a:1" }] }));
    const bad = utf8(JSON.stringify({ v: 1, specHash: specHash(d), spec: JSON.parse(new TextDecoder().decode(encodeDesiredValue(d, specHash(d)))).spec, prior: 7 }));
    expect(why(decodeDesiredValue(bad, keyOf("pi-01", "web")))).toContain("prior");
    // The device side never fails for it.
    expect(E.isRight(desiredPartsDecoder()(bad, keyOf("pi-01", "web")))).toBe(true);
  });

  it("fleet-rollouts: decode(encode(record)) is the record, at the key its identity gives; anywhere else it is refused", () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        const key = rolloutBucketKey(rolloutKeyOf(r));
        expect(key).toMatch(/^[-/_=.A-Za-z0-9]+$/);
        const back = decodeRolloutValue(encodeRolloutValue(r), key);
        if (E.isLeft(back)) throw new Error(formatWireError(back.left));
        expect(encodeRecord(back.right)).toEqual(encodeRecord(r));
        expect(why(decodeRolloutValue(encodeRolloutValue(r), `${key}x`))).toContain("belongs at key");
      }),
      { numRuns: 100 },
    );
  });

  it("fleet-rollouts: garbage never throws; every refusal says why in one line", () => {
    const valid = fc.tuple(recordArb, fc.nat(), fc.jsonValue()).map(([r, n, v]) => {
      const o = JSON.parse(new TextDecoder().decode(encodeRolloutValue(r))) as Record<string, unknown>;
      const keys = Object.keys(o);
      return { key: rolloutBucketKey(rolloutKeyOf(r)), bytes: utf8(JSON.stringify({ ...o, [keys[n % keys.length] as string]: v })) };
    });
    const anything = fc.tuple(fc.string({ maxLength: 20 }), fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.jsonValue().map((v) => utf8(JSON.stringify(v))))).map(([key, bytes]) => ({ key, bytes }));
    fc.assert(
      fc.property(fc.oneof(valid, anything), ({ key, bytes }) => {
        const r = decodeRolloutValue(bytes, key);
        if (E.isLeft(r)) {
          const m = formatWireError(r.left);
          expect(m.length).toBeGreaterThan(0);
          expect(m).not.toContain("\n");
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("nats wire: permissive readers, clear refusals", () => {
  it("ignores unknown fields and tolerates missing optional ones", () => {
    expect(decodeHeartbeatValue(utf8(JSON.stringify({ v: 1, time: "2026-01-01T00:00:00Z", uptime: 5 })))).toEqual(
      E.right({ time: new Date("2026-01-01T00:00:00Z") }),
    );
    const info = decodeDeviceInfoValue(utf8(JSON.stringify({ v: 1, id: "pi-01", future: { x: 1 } })), "pi-01" as never);
    expect(E.isRight(info) && info.right.arch === "unknown" && Object.keys(info.right.labels).length === 0).toBe(true);
  });

  const cases: ReadonlyArray<readonly [string, Uint8Array, string, RegExp]> = [
    ["garbage", utf8("\u0000\u0001garbage"), "NotJson", /not JSON/],
    ["truncated JSON", utf8('{"v":1,"time":"2026-01-'), "NotJson", /not JSON/],
    ["not UTF-8", new Uint8Array([0xff, 0xfe, 0x00]), "NotUtf8", /not UTF-8/],
    ["an array", utf8("[1,2]"), "NotAnObject", /not a JSON object/],
    ["no version", utf8('{"time":"2026-01-01T00:00:00Z"}'), "NoVersion", /no wire version/],
    ["a newer version", utf8('{"v":2,"time":"2026-01-01T00:00:00Z"}'), "UnsupportedVersion", /unsupported wire version 2/],
    ["a wrong shape", utf8('{"v":1,"time":42}'), "Invalid", /^time: .*date/],
    ["an empty value", new Uint8Array(0), "NotJson", /not JSON/],
  ];
  for (const [what, bytes, tag, message] of cases) {
    it(`refuses ${what} with a tagged error and a message`, () => {
      const r = decodeHeartbeatValue(bytes);
      expect(E.isLeft(r) && r.left._tag).toBe(tag);
      expect(why(r)).toMatch(message);
    });
  }

  it("device-state: a health status outside starting/healthy/unhealthy is refused, naming the field", () => {
    const r = decodeDeviceStateValue(utf8(JSON.stringify({ v: 1, phase: "Running", time: "2026-01-01T00:00:00Z", health: "sick" })));
    expect(E.isLeft(r) && r.left._tag).toBe("Invalid");
    expect(why(r)).toMatch(/^health: /);
    const older = decodeDeviceStateValue(utf8(JSON.stringify({ v: 1, phase: "Running", time: "2026-01-01T00:00:00Z" })));
    expect(E.isRight(older) && older.right.health).toBe(undefined);
  });

  it("marks a desired value whose spec does not hash to its hash as tampered (kept, to be repaired), and refuses one whose name is not its key's", () => {
    fc.assert(
      fc.property(deploymentArb, (d) => {
        const wrongHash = decodeDesiredValue(encodeDesiredValue(d, "sha256:0000"), keyOf("pi-01", d.name));
        expect(E.isRight(wrongHash) && wrongHash.right.tampered).toMatch(/spec does not match its hash/);
        const right = decodeDesiredValue(encodeDesiredValue(d, specHash(d)), keyOf("pi-01", d.name));
        expect(E.isRight(right) && right.right.tampered).toBe(undefined);
        const other = d.name === "zz" ? "yy" : "zz";
        const wrongName = decodeDesiredValue(encodeDesiredValue(d, specHash(d)), keyOf("pi-01", other));
        expect(E.isLeft(wrongName) && wrongName.left._tag).toBe("WrongDeployment");
        expect(why(wrongName)).toMatch(/is for deployment/);
      }),
    );
  });

  it("refuses device-info stored under another device's key", () => {
    const r = decodeDeviceInfoValue(utf8(JSON.stringify({ v: 1, id: "pi-02" })), "pi-01" as never);
    expect(E.isLeft(r) && r.left).toEqual({ _tag: "WrongDevice", found: "pi-02", expected: "pi-01" });
    expect(why(r)).toBe('value is for device "pi-02", not "pi-01"');
  });

  it("never throws, whatever the bytes; every refusal is tagged and says why in one line", () => {
    const valid = [
      encodeHeartbeatValue({ time: new Date(0), agentVersion: "1" }),
      encodeDeviceStateValue({ phase: "Failed", time: new Date(0), error: "x", specHash: "sha256:1" }),
      encodeDeviceStateValue({ phase: "Running", time: new Date(0), specHash: "sha256:1", health: "unhealthy" }),
      utf8(JSON.stringify({ v: 1, id: "pi-01", labels: { env: "prod" }, arch: "aarch64" })),
    ];
    const jsonish = fc.oneof(
      fc.jsonValue().map((v) => utf8(JSON.stringify(v))),
      fc.tuple(fc.constantFrom(...valid), fc.string({ maxLength: 12 }), fc.jsonValue()).map(([b, k, v]) => {
        const o = JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
        return utf8(JSON.stringify({ ...o, [k === "" ? "time" : k]: v }));
      }),
    );
    const bytesArb = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 40 }).map(utf8), fc.string({ maxLength: 40 }).map((t) => utf8(`{"v":1,${t}`)), jsonish);
    fc.assert(
      fc.property(bytesArb, (b) => {
        const results: ReadonlyArray<E.Either<WireError, unknown>> = [decodeHeartbeatValue(b), decodeDeviceStateValue(b), decodeDeviceInfoValue(b, "pi-01" as never), decodeDesiredValue(b, keyOf("pi-01", "web"))];
        for (const r of results) {
          if (E.isRight(r)) continue;
          expect(typeof r.left._tag).toBe("string");
          const m = formatWireError(r.left);
          expect(m.length).toBeGreaterThan(0);
          expect(m).not.toContain("\n");
          expect(m).not.toContain("[object");
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("nats wire: keys", () => {
  it("reads valid keys and names the device of a half-valid one", () => {
    expect(parseEntryKey("pi-01.web")).toEqual(E.right({ device: "pi-01", deployment: "web" }));
    expect(parseDeviceKey("pi-01")).toEqual(E.right("pi-01"));
    const half = parseEntryKey("pi-01.Bad_Name");
    expect(E.isLeft(half) && half.left.device === "pi-01").toBe(true);
    for (const named of ["pi-01.web.extra", "pi-01.", "pi-01.-web"]) {
      const r = parseEntryKey(named);
      expect(E.isLeft(r) && r.left.device === "pi-01", named).toBe(true);
    }
    for (const bad of ["Bad_Device.web", "web", ".web", "-x.web"]) {
      const r = parseEntryKey(bad);
      expect(E.isLeft(r), bad).toBe(true);
      if (E.isLeft(r)) expect(r.left.device, bad).toBeUndefined();
    }
    expect(E.isLeft(parseDeviceKey("PI_01"))).toBe(true);
  });
});

describe("nats wire: change records to Planner events (PlannerFeed.ts)", () => {
  const enc = new TextEncoder();
  const valueArb = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.anything().map((u) => enc.encode(JSON.stringify(u) ?? "null")),
    deploymentArb.map((d) => encodeDesiredValue(d, specHash(d))),
    deviceArb.map((d) => encodeDeviceInfoValue(d)),
    fc.constant(encodeHeartbeatValue({ time: new Date("2026-11-30T12:00:00Z") })),
    fc.constant(encodeDeviceStateValue({ phase: "Running", time: new Date("2026-11-30T12:00:00Z") })),
  );
  const keyArb = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("d0", "d1", "d0.web", "d1.db", "d0.Bad_Name", "D0"));
  const recordArb = fc.record({
    bucket: fc.constantFrom("desired" as const, "heartbeat" as const, "info" as const, "state" as const),
    key: keyArb,
    revision: fc.nat(),
    operation: fc.constantFrom("PUT" as const, "DEL" as const, "PURGE" as const),
    value: valueArb,
  });

  it("never throws on garbage; damage always says which record and why, and is repaired by a good record", () =>
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 20 }), (records) => {
        const changes = recordChanges();
        const damaged = new Map<string, string>();
        for (const { bucket, ...record } of records)
          for (const e of changes.take(bucket, record)) {
            if (e._tag === "Damaged") {
              expect(e.why).toMatch(/^[a-z-]+ \S* ?.*: .+/);
              expect(e.why).not.toContain("[object");
              damaged.set(e.id, e.why);
            }
            if (e._tag === "Repaired") {
              expect(damaged.has(e.id)).toBe(true);
              damaged.delete(e.id);
            }
          }
        // Deleting every key again clears every damage.
        const cleanup = records.flatMap(({ bucket, key }) => changes.take(bucket, { key, revision: 0, operation: "DEL", value: new Uint8Array(0) }));
        for (const e of cleanup) if (e._tag === "Repaired") damaged.delete(e.id);
        expect([...damaged.keys()]).toEqual([]);
      }),
      { numRuns: 300 },
    ));
});
