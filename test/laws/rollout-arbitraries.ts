/**
 * Arbitraries and a driver for the laws of staged rollouts
 * (test/laws/rollout.test.ts): small fleets (≤ 8 devices, two sites, two
 * tiers) where one deployment, `web`, moves from V1 to a V2 with a random
 * `Waves` policy, next to an `Immediate` deployment, `db`, that must never be
 * held; devices start at V1, with no entry, already at V2, or failing at V1;
 * agents may fail at V2 and go offline for a few rounds.
 *
 * Also an independent, naive statement of wave membership (`naiveWaves`), the
 * rounding rule, availability and success, written from docs/rollouts.md
 * without the step's code.
 */
import fc from "fast-check";
import { device, type Device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { IMMEDIATE, type Quantity, type Waves } from "../../src/algebra/Rollout.ts";
import type { OpenedWave, RolloutRecord } from "../../src/diff/Ledger.ts";
import { rolloutKey } from "../../src/diff/Ledger.ts";
import { reality, type DesiredEntry, type ObservedState, type Reality } from "../../src/diff/Reality.ts";
import { ticket } from "../../src/diff/Rollout.ts";
import { compile } from "../../src/selectors/Selector.ts";
import { parseSelector } from "../../src/selectors/Parse.ts";
import { all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { rollout, type RolloutInput } from "../../src/world/Rollout.ts";
import { world, type World } from "../../src/world/World.ts";
import { ROUND_MS, run, type Agents, type Round } from "../rollout/sim.ts";

export type { Round } from "../rollout/sim.ts";

// -------------------------------------------------------------------------------------
// the universe
// -------------------------------------------------------------------------------------

export const POOL = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11"] as const;
export const WEB = "web" as DeploymentName;
export const DB = "db" as DeploymentName;
const scoreOf = (image: string) => podman({ services: [{ name: "main", image }] });
export const V0: Deployment = deployment("web", scoreOf("registry.local/web:0"));
export const V1: Deployment = deployment("web", scoreOf("registry.local/web:1"));
export const DB1: Deployment = deployment("db", scoreOf("registry.local/db:1"));
export const V1_HASH = specHash(V1);
/** The spec being rolled out, with a policy. */
export const v2 = (policy: Waves | typeof IMMEDIATE): Deployment => deployment("web", scoreOf("registry.local/web:2"), { rollout: policy });
export const TARGET = specHash(v2(IMMEDIATE));
export const START = new Date("2026-01-01T00:00:00Z");
/** A device is online in a round exactly when it sent a heartbeat in that round. */
export const OFFLINE_AFTER_MS = ROUND_MS / 2;

export const labelsArb = fc.record({ site: fc.constantFrom("a", "b"), tier: fc.constantFrom("x", "y") }, { requiredKeys: ["site"] });
export const deviceWithId = (id: string): fc.Arbitrary<Device> => labelsArb.map((labels) => device(id, { labels }));
export const fleetArb = (minLength = 1, maxLength = 8): fc.Arbitrary<Device[]> =>
  fc.uniqueArray(fc.constantFrom(...POOL), { minLength, maxLength }).chain((ids) => fc.tuple(...ids.map(deviceWithId)));

// -------------------------------------------------------------------------------------
// policies
// -------------------------------------------------------------------------------------

export const WAVE_SELECTORS = ["site=a", "site=b", "tier=x", "tier!=x"] as const;
const limitArb: fc.Arbitrary<number | string> = fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom("10%", "25%", "50%", "75%"));
const waveArb = fc.record({ selector: fc.constantFrom(...WAVE_SELECTORS), limit: limitArb, successThreshold: fc.constantFrom(0, 50, 100) }, { requiredKeys: [] });
const budgetQuantityArb: fc.Arbitrary<number | string> = fc.oneof(fc.integer({ min: 1, max: 2 }), fc.constantFrom("25%", "50%"));

export interface PolicyShape {
  readonly budget?: boolean;
  readonly timeout?: boolean;
  readonly onFailure?: "pause" | "rollback";
  /** Only percentage limits (or none): membership needs no ledger. */
  readonly percentOnly?: boolean;
}

export const policyArb = (shape: PolicyShape = {}): fc.Arbitrary<Waves> =>
  fc
    .record({
      waves: fc.array(shape.percentOnly === true ? waveArb.map(({ limit, ...w }) => (typeof limit === "number" ? w : { ...w, limit })) : waveArb, { maxLength: 3 }),
      successThreshold: fc.constantFrom(0, 50, 100, 100),
      budget: shape.budget === true ? fc.option(fc.record({ maxUnavailable: budgetQuantityArb, minAvailable: budgetQuantityArb, groupBy: fc.constantFrom([], ["site"]) }, { requiredKeys: ["groupBy"] }), { nil: undefined }) : fc.constant(undefined),
      waveTimeout: shape.timeout === true ? fc.option(fc.constantFrom(25, 45), { nil: undefined }) : fc.constant(undefined),
      onFailure: shape.onFailure !== undefined ? fc.constant(shape.onFailure) : fc.constantFrom("pause" as const, "rollback" as const),
    })
    .filter((p) => p.budget === undefined || p.budget.maxUnavailable !== undefined || p.budget.minAvailable !== undefined)
    .map((p): Waves => {
      const input: RolloutInput = {
        waves: p.waves,
        successThreshold: p.successThreshold,
        onFailure: p.onFailure,
        ...(p.budget !== undefined ? p.budget : {}),
        ...(p.waveTimeout !== undefined ? { waveTimeout: p.waveTimeout } : {}),
      };
      return rollout(input);
    });

// -------------------------------------------------------------------------------------
// scenarios
// -------------------------------------------------------------------------------------

/** How a device starts: at V1 or at an older V0 (running), with no entry, already at the target (running), or at V1 failing. */
export type Start = "v1" | "v0" | "none" | "target" | "failing";

export interface Scenario {
  readonly devices: ReadonlyArray<Device>;
  readonly policy: Waves;
  readonly start: ReadonlyMap<string, Start>;
  /** Devices whose agent fails to run the target. */
  readonly failsAtTarget: ReadonlySet<string>;
  /** Devices offline in rounds [from, to). */
  readonly offline: ReadonlyMap<string, readonly [number, number]>;
}

export interface ScenarioShape extends PolicyShape {
  readonly starts?: ReadonlyArray<Start>;
  readonly failures?: boolean;
  readonly offline?: boolean;
}

export const scenarioArb = (shape: ScenarioShape = {}): fc.Arbitrary<Scenario> =>
  fc.tuple(fleetArb(), policyArb(shape)).chain(([devices, policy]) =>
    fc
      .record({
        starts: fc.array(fc.constantFrom(...(shape.starts ?? (["v1", "v1", "v1", "v0", "none", "target", "failing"] as const))), { minLength: devices.length, maxLength: devices.length }),
        fails: shape.failures === true ? fc.array(fc.boolean(), { minLength: devices.length, maxLength: devices.length }) : fc.constant(devices.map(() => false)),
        offline:
          shape.offline === true
            ? fc.array(fc.option(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 3 })), { nil: undefined, freq: 2 }), { minLength: devices.length, maxLength: devices.length })
            : fc.constant(devices.map(() => undefined)),
      })
      .map(({ starts, fails, offline }) => ({
        devices,
        policy,
        start: new Map(devices.map((d, i) => [d.id as string, starts[i] as Start])),
        failsAtTarget: new Set(devices.filter((_, i) => fails[i]).map((d) => d.id as string)),
        offline: new Map(devices.flatMap((d, i) => {
          const o = offline[i];
          return o === undefined ? [] : [[d.id as string, [o[0], o[0] + o[1]] as const] as const];
        })),
      })),
  );

/** The World of a scenario: every device gets `web` (the target, with `policy`) and `db` (Immediate). */
export const worldOf = (devices: ReadonlyArray<Device>, policy: Waves | typeof IMMEDIATE): World =>
  world({ fleet: devices, assignments: [assign(all, [v2(policy), DB1])] });

const entry = (id: DeviceId, d: Deployment): DesiredEntry => ({ device: id, deployment: d.name, specHash: specHash(d), fingerprint: specHash(d), spec: d });
const report = (id: DeviceId, d: Deployment, phase: ObservedState["phase"]): ObservedState => ({ device: id, deployment: d.name, phase, specHash: specHash(d), at: START });

/** The scenario's Reality before the rollout: every device registered, entries and reports as its start says (no `db` yet). */
export const initialOf = (s: Scenario): Reality => {
  const desired: DesiredEntry[] = [];
  const observed: ObservedState[] = [];
  for (const d of s.devices) {
    const st = s.start.get(d.id);
    const spec = st === "target" ? v2(IMMEDIATE) : st === "v0" ? V0 : V1;
    if (st === "none") continue;
    desired.push(entry(d.id, spec));
    observed.push(report(d.id, spec, st === "failing" ? "Failed" : "Running"));
  }
  return reality({ devices: s.devices.map((device) => ({ device, lastHeartbeat: START })), desired, observed });
};

/** The scenario's agents: failing devices fail at V1, `failsAtTarget` at the target; offline in their window. */
export const agentsOf = (s: Scenario): Agents => ({
  fails: (id, h) => (h === TARGET && s.failsAtTarget.has(id)) || (h === V1_HASH && s.start.get(id) === "failing"),
  offline: (id, round) => {
    const w = s.offline.get(id);
    return w !== undefined && round >= w[0] && round < w[1];
  },
});

// -------------------------------------------------------------------------------------
// the driver
// -------------------------------------------------------------------------------------

export const nowOf = (round: number): Date => new Date(START.getTime() + round * ROUND_MS);

/** `rounds` rounds of report → plan → apply (test/rollout/sim.ts); `agentsIn(round)` may change the agents from round to round. */
export const drive = (w: World, initial: Reality, rounds: number, agentsIn: (round: number) => Agents, first = 0): ReadonlyArray<Round> =>
  run(w, initial, rounds, {}, { start: START, first, offlineAfterMs: OFFLINE_AFTER_MS, agentsIn });

export const recordOf = (r: Reality): RolloutRecord | undefined => r.rollouts?.get(rolloutKey(WEB, TARGET));

// -------------------------------------------------------------------------------------
// the rules, stated naively
// -------------------------------------------------------------------------------------

/** The rounding rule: `ceil(p · n / 100)` for a percentage, a count capped at `n`. */
export const countOf = (q: Quantity, n: number): number => (typeof q === "number" ? Math.min(q, n) : Math.min(n, Math.ceil((Number(q.slice(0, -1)) * n) / 100)));

const predicate = (text: string): ((d: Device) => boolean) => {
  const p = parseSelector(text);
  if (p._tag === "Left") throw new Error(`bad wave selector ${text}`);
  return compile(p.right);
};

/**
 * Each device's wave, as docs/rollouts.md states it: wave k takes the devices
 * no earlier wave took that match its selector and fall under its limit (a
 * percentage: a ticket below the running total; a count: the devices the
 * ledger pinned, or else the lowest tickets); the rest form wave `waves.length`.
 */
export const naiveWaves = (policy: Waves, devices: ReadonlyArray<Device>, opened: ReadonlyArray<OpenedWave> = []): Map<string, number> => {
  const wave = new Map<string, number>();
  let total = 0;
  policy.waves.forEach((w, k) => {
    const free = devices.filter((d) => !wave.has(d.id));
    const sel = w.selector === undefined ? () => true : predicate(w.selector);
    let taken: Device[];
    if (typeof w.limit === "number") {
      const pinned = opened[k]?.pinned;
      taken =
        pinned !== undefined
          ? free.filter((d) => pinned.includes(d.id))
          : free
              .filter(sel)
              .map((d) => ({ d, t: ticket(WEB, d.id) }))
              .sort((a, b) => a.t - b.t || (a.d.id < b.d.id ? -1 : 1))
              .slice(0, w.limit)
              .map((x) => x.d);
    } else if (w.limit !== undefined) {
      total = Math.min(100, total + Number(w.limit.slice(0, -1)));
      taken = free.filter((d) => sel(d) && ticket(WEB, d.id) < total / 100);
    } else taken = free.filter(sel);
    for (const d of taken) wave.set(d.id, k);
  });
  for (const d of devices) if (!wave.has(d.id)) wave.set(d.id, policy.waves.length);
  return wave;
};

/** Runs, healthy, its published spec or the target. */
export const isAvailable = (r: Reality, id: DeviceId): boolean => {
  const o = r.observed.get(id)?.get(WEB);
  const p = r.desired.get(id)?.get(WEB);
  return o !== undefined && o.phase === "Running" && (o.health === undefined || o.health === "healthy") && (o.specHash === TARGET || (p !== undefined && o.specHash === p.specHash));
};

/** Published at the target and running it, healthy. */
export const hasSucceeded = (r: Reality, id: DeviceId): boolean => {
  const o = r.observed.get(id)?.get(WEB);
  const p = r.desired.get(id)?.get(WEB);
  return p !== undefined && p.specHash === TARGET && p.tampered === undefined && o !== undefined && o.phase === "Running" && o.specHash === TARGET && (o.health === undefined || o.health === "healthy");
};

export const isOnline = (r: Reality, id: DeviceId, now: Date): boolean => {
  const hb = r.devices.get(id)?.lastHeartbeat;
  return hb !== undefined && now.getTime() - hb.getTime() <= OFFLINE_AFTER_MS;
};

/** `device.deployment=hash`, sorted: the desired entries a Reality holds (or a World gives). */
export const entriesView = (r: Reality): string[] => {
  const out: string[] = [];
  for (const [id, m] of r.desired) for (const [name, e] of m) out.push(`${id}.${name}=${e.specHash}`);
  return out.sort();
};

/** What the World gives every device of the scenario. */
export const worldView = (devices: ReadonlyArray<Device>): string[] =>
  devices.flatMap((d) => [`${d.id}.${DB}=${specHash(DB1)}`, `${d.id}.${WEB}=${TARGET}`]).sort();

/**
 * Whether the scenario's budget can let some device of every group go at all:
 * `minAvailable` (rounded up) below the group's size. `minAvailable: "50%"`
 * over a group of one device allows no update, ever: the rollout waits (until
 * its timeout, if it has one).
 */
export const budgetLeavesRoom = (s: Pick<Scenario, "devices" | "policy">): boolean => {
  const b = s.policy.budget;
  if (b === undefined || b.minAvailable === undefined) return true;
  const sizes = new Map<string, number>();
  for (const d of s.devices) {
    const key = b.groupBy.map((k) => d.labels[k] ?? "").join("/");
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  return [...sizes.values()].every((n) => countOf(b.minAvailable as Quantity, n) < n);
};
