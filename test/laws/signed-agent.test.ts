/**
 * The agent's pure step with a trust store, under random sequences of desired
 * entries: validly signed ones (revisions growing with their spec version),
 * and forged, expired, other-device, tampered, unsigned and unreadable ones, with
 * restarts that keep only what the agent persisted (`PersistAccepted`).
 *
 * Laws:
 * - a refused entry never reaches the runtime: every spec the runtime is
 *   given came in a validly signed entry;
 * - an older signed revision is never accepted after a newer one, restarts
 *   included: the version the runtime runs per key never goes down;
 * - the latest entry of a key, once refused, is reported `Rejected` with a
 *   reason, while the runtime keeps the spec last accepted.
 */
import { beforeAll, describe, expect } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import type { AcceptedEntry } from "../../src/agent/Accept.ts";
import type { AgentEffect } from "../../src/agent/Effect.ts";
import type { AgentEvent, DecodedDesired } from "../../src/agent/Event.ts";
import { initialState, type AgentConfig, type AgentState, type ReportedState } from "../../src/agent/State.ts";
import { step } from "../../src/agent/Step.ts";
import { addKey, emptyTrustStore, generateSigningKey, type TrustStore } from "../../src/trust/Keys.ts";
import type { EntrySignature } from "../../src/trust/SignedEntry.ts";
import { signEntries } from "../../src/trust/SignedTree.ts";
import * as E from "fp-ts/lib/Either.js";

const T0 = new Date("2026-12-01T00:00:00.000Z");
const NOW = new Date("2026-12-02T00:00:00.000Z");
const DAY = 86_400_000;
const ME = "dev-01" as DeviceId;
const NAMES = ["web", "db"] as DeploymentName[];
const VERSIONS = [1, 2, 3, 4];

/** Each kind of entry carries its own spec (`:<version>` only for validly signed ones), so what ran says where it came from. */
const spec = (n: DeploymentName, version: number, kind = "valid"): Deployment =>
  deployment(n, podman({ services: [{ name: "svc", image: `registry.local/${n}:${version}${kind === "valid" ? "" : `-${kind}`}` }] }));
const versionOf = (d: Deployment): number => Number(/:(\d+)/.exec(d.score.services[0]?.image ?? "")?.[1]);
const isValidSpec = (d: Deployment): boolean => /:\d+$/.test(d.score.services[0]?.image ?? "");

type Kind = "valid" | "forged" | "expired" | "foreign" | "tampered" | "unsigned" | "unreadable";
const KINDS: ReadonlyArray<Kind> = ["valid", "forged", "expired", "foreign", "tampered", "unsigned", "unreadable"];

/** Every entry the tests can write, by kind, deployment and version. */
const pool = new Map<string, DecodedDesired>();
const poolKey = (kind: Kind, n: DeploymentName, v: number): string => `${kind} ${n} ${v}`;
let trust: TrustStore;

beforeAll(async () => {
  const key = generateSigningKey(T0);
  const other = generateSigningKey(T0);
  trust = addKey(key.publicJwk, T0)(emptyTrustStore);
  const claims = (device: DeviceId, n: DeploymentName, v: number, kind: string) => ({ device, deployment: n, specHash: specHash(spec(n, v, kind)), revision: 1000 * v });
  const all = NAMES.flatMap((n) => VERSIONS.map((v) => ({ n, v })));
  const week = { issuedAt: T0, expiresAt: new Date(T0.getTime() + 7 * DAY), plan: "plan" };
  const good = await signEntries(all.map(({ n, v }) => claims(ME, n, v, "valid")), key, week);
  const expired = await signEntries(all.map(({ n, v }) => claims(ME, n, v, "expired")), key, { ...week, expiresAt: new Date(T0.getTime() + DAY / 2) });
  const foreign = await signEntries(all.map(({ n, v }) => claims("dev-02" as DeviceId, n, v, "foreign")), key, week);
  const byOther = await signEntries(all.map(({ n, v }) => claims(ME, n, v, "forged")), other, week);
  const forgedBase = await signEntries(all.map(({ n, v }) => claims(ME, n, v, "forged")), key, week);
  all.forEach(({ n, v }, i) => {
    /** A value stating `sp`'s hash (or `stated`), with its signature. */
    const value = (sp: Deployment, sig: EntrySignature | undefined, stated: string = specHash(sp)): DecodedDesired => ({
      _tag: "Decoded",
      spec: sp,
      specHash: stated,
      ...(specHash(sp) !== stated ? { actualSpecHash: specHash(sp) } : {}),
      ...(sig !== undefined ? { signature: E.right(sig) } : {}),
    });
    const g = good[i] as EntrySignature;
    // Right key name (the trusted kid, in a header and payload the trusted key signed), another key's signature.
    const fb = forgedBase[i] as EntrySignature;
    const [head, payload] = fb.jws.split(".");
    const forgedJws = `${head}.${payload}.${(byOther[i] as EntrySignature).jws.split(".")[2]}`;
    pool.set(poolKey("valid", n, v), value(spec(n, v), g));
    pool.set(poolKey("forged", n, v), value(spec(n, v, "forged"), { ...fb, jws: forgedJws }));
    pool.set(poolKey("expired", n, v), value(spec(n, v, "expired"), expired[i] as EntrySignature));
    // Another device's entry copied under this device's key.
    pool.set(poolKey("foreign", n, v), value(spec(n, v, "foreign"), foreign[i] as EntrySignature));
    // The spec changed; the valid entry's stated hash and signature kept.
    pool.set(poolKey("tampered", n, v), value(spec(n, v, "tampered"), g, specHash(spec(n, v))));
    pool.set(poolKey("unsigned", n, v), value(spec(n, v, "unsigned"), undefined));
    pool.set(poolKey("unreadable", n, v), { _tag: "Undecodable", reason: "value is not JSON" });
  });
});

const CONFIG = (): AgentConfig => ({ device: ME, instance: "me", retryMs: 1_000, rejoinDelayMs: 0, peerTtlMs: 3_000, trust });

/** A device with a perfect connection and runtime: every effect is answered at once. */
class Device {
  state: AgentState;
  persisted: ReadonlyMap<DeploymentName, AcceptedEntry> = new Map();
  readonly runtime = new Map<DeploymentName, Deployment>();
  readonly store = new Map<DeploymentName, ReportedState>();
  /** Every spec the runtime was ever given, by key, in order. */
  readonly given: Array<{ readonly name: DeploymentName; readonly spec: Deployment }> = [];
  kvRevision = 0;

  constructor() {
    this.state = initialState(CONFIG());
  }

  run(events: AgentEvent[]): void {
    const queue = [...events];
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      const [next, fx] = step(this.state, e);
      this.state = next;
      for (const f of fx) queue.push(...this.perform(f));
    }
  }

  perform(f: AgentEffect): AgentEvent[] {
    switch (f._tag) {
      case "Reconcile":
        this.runtime.clear();
        for (const d of f.desired) {
          this.runtime.set(d.name, d);
          this.given.push({ name: d.name, spec: d });
        }
        return [{ _tag: "Reconciled", pass: f.pass, statuses: f.desired.map((d) => ({ deployment: d.name, phase: "Running", specHash: specHash(d) })) }];
      case "Report":
        this.store.set(f.deployment, f.state);
        return [{ _tag: "Reported", deployment: f.deployment, state: f.state, seq: f.seq }];
      case "Clear":
        this.store.delete(f.deployment);
        return [{ _tag: "Cleared", deployment: f.deployment, seq: f.seq }];
      case "PersistAccepted":
        this.persisted = f.accepted;
        return [];
      case "ReadPreviousStates":
        return [{ _tag: "PreviousStates", deployments: [...this.store.keys()] }];
      default:
        return [];
    }
  }

  write(n: DeploymentName, value: DecodedDesired): void {
    const input = { _tag: "Put" as const, deployment: n, revision: ++this.kvRevision, value };
    this.run([
      { _tag: "EntrySeen", generation: this.state.generation, input, now: NOW },
      { _tag: "CaughtUp", generation: this.state.generation },
    ]);
  }

  /** A new process: only the persisted accepted entries survive; the follow re-reads the latest entries. */
  restart(latest: ReadonlyMap<DeploymentName, DecodedDesired>): void {
    this.state = initialState(CONFIG(), this.persisted);
    this.run([{ _tag: "Started" }]);
    const g = this.state.generation;
    const entries: AgentEvent[] = [...latest].map(([n, value]) => ({
      _tag: "EntrySeen",
      generation: g,
      input: { _tag: "Put", deployment: n, revision: ++this.kvRevision, value },
      now: NOW,
    }));
    this.run([...entries, { _tag: "CaughtUp", generation: g }]);
  }
}

type Op = { readonly _tag: "Write"; readonly kind: Kind; readonly name: DeploymentName; readonly version: number } | { readonly _tag: "Restart" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ _tag: fc.constant("Write" as const), kind: fc.constantFrom(...KINDS), name: fc.constantFrom(...NAMES), version: fc.constantFrom(...VERSIONS) }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Restart" as const }) },
);

/** What broke each law in one run (empty lists: kept). */
interface Violations {
  readonly unverifiedRan: string[];
  readonly wentBack: string[];
  readonly notRejected: string[];
}

const scenario = (ops: ReadonlyArray<Op>): Violations => {
  const v: Violations = { unverifiedRan: [], wentBack: [], notRejected: [] };
  const d = new Device();
  d.restart(new Map());
  const latest = new Map<DeploymentName, DecodedDesired>();
  /** Highest version accepted per key (what a correct agent runs). */
  const highest = new Map<DeploymentName, number>();
  for (const op of ops) {
    if (op._tag === "Restart") {
      d.restart(latest);
      continue;
    }
    const value = pool.get(poolKey(op.kind, op.name, op.version)) as DecodedDesired;
    latest.set(op.name, value);
    d.write(op.name, value);
    const ok = op.kind === "valid" && op.version >= (highest.get(op.name) ?? 0);
    if (ok) highest.set(op.name, op.version);
    const reported = d.store.get(op.name);
    if (!ok && (reported?.phase !== "Rejected" || !(reported.error ?? "").startsWith("rejected: ")))
      v.notRejected.push(`${op.kind} ${op.name}:${op.version} reported ${JSON.stringify(reported)}`);
    // The runtime keeps the spec last accepted (or nothing, if none was).
    const runs = d.runtime.get(op.name);
    if ((runs === undefined ? undefined : versionOf(runs)) !== highest.get(op.name))
      v.notRejected.push(`${op.kind} ${op.name}:${op.version}: runtime runs ${runs === undefined ? "nothing" : versionOf(runs)}, expected ${highest.get(op.name)}`);
  }
  const last = new Map<DeploymentName, number>();
  for (const g of d.given) {
    const version = versionOf(g.spec);
    if (!isValidSpec(g.spec)) v.unverifiedRan.push(`${g.name} ran an unsigned spec (${g.spec.score.services[0]?.image})`);
    if (version < (last.get(g.name) ?? 0)) v.wentBack.push(`${g.name} went from ${last.get(g.name)} back to ${version}`);
    last.set(g.name, Math.max(version, last.get(g.name) ?? 0));
  }
  return v;
};

const opsArb = fc.array(opArb, { maxLength: 40 });

describe("agent with a trust store (pure step)", () => {
  test.prop([opsArb])("a refused entry never reaches the runtime", (ops) => {
    expect(scenario(ops).unverifiedRan).toEqual([]);
  });
  test.prop([opsArb])("an older signed revision is never accepted after a newer one, restarts included", (ops) => {
    expect(scenario(ops).wentBack).toEqual([]);
  });
  test.prop([opsArb])("the latest refused entry of a key is reported Rejected with a reason; the runtime keeps the spec last accepted", (ops) => {
    expect(scenario(ops).notRejected).toEqual([]);
  });
});
