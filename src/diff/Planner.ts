/**
 * Planner: the plan of a long-running controller, kept up to date one change
 * at a time instead of re-diffing the whole fleet on every change.
 *
 * A plan decomposes by device: every action, conflict and skipped device is
 * about one device id, and what the diff says about an id depends only on the
 * World's declaration of it and on that id's own records (its registration
 * and heartbeat, published entries, damage) — never on another device's. So
 * the Planner keeps, per device id, its *steps* (its actions, conflicts and
 * why it is skipped, as `diff` would list them), and on an event re-runs the
 * one device the event is about: `planDevice` for a device it evaluates, the
 * orphan deletes of `removedDevices` for one outside the fleet, nothing for
 * one left alone. Each device keeps the resolution its labels were resolved
 * to (the World's selector verdicts), recomputed only when it is relabelled.
 *
 * What "the updated plan" is after one event: the device's new steps, the
 * summary's counters adjusted by the difference, and the id index (devices
 * with any step, in id order) updated in place. `summary()` and `stepsOf(id)`
 * are then current at no further cost; `plan()` writes out the whole Plan by
 * walking the index — linear in the plan's size, with no sort and no visit to
 * converged devices — and caches it until the next change.
 *
 * Time: `now` is an input, as for `diff`. Presence (and so each action's
 * `presence` and `summary.notOnline`) is judged at the Planner's current
 * `now`, which moves only with a `Tick` event; a tick re-plans just the
 * devices with actions whose presence changed. A heartbeat of a device with
 * no action changes nothing in the plan and is only recorded. A heartbeat of
 * a device that never registered is ignored: a Reality has no place for it
 * (the NATS reader keeps such heartbeats until the device registers).
 *
 * Replacing the World re-plans every device (a new World may change any
 * verdict); every other event re-plans one device.
 *
 * Law (test/laws/planner.test.ts): after any sequence of events, `plan()`
 * deep-equals `diff(world, realityAfter(reality, events), { now })` — same
 * actions, conflicts, skipped devices and summary, in the same order.
 *
 * The Planner is pure in the sense of `diff` (no I/O, clock, environment or
 * randomness) but mutable inside: copying a million-device state per event
 * would cost more than the diff it saves. It takes ownership of nothing it is
 * given: the Reality's maps are copied (per device, on first write).
 */
import * as O from "fp-ts/lib/Option.js";
import * as Ord from "fp-ts/lib/Ord.js";
import type { Device } from "../algebra/Device.ts";
import * as Fleet from "../algebra/Fleet.ts";
import { OrdDeviceId, type DeploymentName, type DeviceId } from "../algebra/Name.ts";
import type { World } from "../world/World.ts";
import { isWaves } from "../algebra/Rollout.ts";
import { DEFAULT_OFFLINE_AFTER_MS, diff, planDevice, presence, removedDevices, type DiffOptions } from "./Diff.ts";
import { OrdConflict, type Action, type Conflict, type Plan, type Presence, type Skipped, type Summary } from "./Plan.ts";
import { emptyReality, type DesiredEntry, type ObservedState, type Reality, type ReportedDevice } from "./Reality.ts";
import { orderedIndex } from "./OrderedIndex.ts";
import { resolver, type Resolution } from "./Resolve.ts";
import { leftAloneText, type LeftAlone, type Targets } from "./Targets.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One change seen by the controller. */
export type PlannerEvent =
  /** A device registered, or re-registered with other labels, arch or facts (its heartbeat as given). */
  | { readonly _tag: "DeviceReported"; readonly device: ReportedDevice }
  /** A device's registration was deleted. */
  | { readonly _tag: "DeviceGone"; readonly id: DeviceId }
  /** A registered device's heartbeat. */
  | { readonly _tag: "Heartbeat"; readonly id: DeviceId; readonly at: Date }
  | { readonly _tag: "DesiredSet"; readonly entry: DesiredEntry }
  | { readonly _tag: "DesiredDeleted"; readonly device: DeviceId; readonly deployment: DeploymentName }
  | { readonly _tag: "ObservedSet"; readonly state: ObservedState }
  | { readonly _tag: "ObservedDeleted"; readonly device: DeviceId; readonly deployment: DeploymentName }
  /** Some record of the device cannot be read (why), or another one now; it is left alone. */
  | { readonly _tag: "Damaged"; readonly id: DeviceId; readonly why: string }
  /** Every record of the device can be read again. */
  | { readonly _tag: "Repaired"; readonly id: DeviceId }
  | { readonly _tag: "WorldReplaced"; readonly world: World }
  /** The time against which heartbeats are judged moves on. */
  | { readonly _tag: "Tick"; readonly now: Date };

export type PlannerEventTag = PlannerEvent["_tag"];

export const matchPlannerEvent =
  <R>(cases: { readonly [T in PlannerEventTag]: (e: Extract<PlannerEvent, { _tag: T }>) => R }) =>
  (e: PlannerEvent): R =>
    (cases[e._tag] as (e: PlannerEvent) => R)(e);

/** What the plan says about one device id. */
export interface DeviceSteps {
  readonly device: DeviceId;
  /** In `OrdAction` order: the device's own actions, or deletes of its entries when it left the fleet. */
  readonly actions: ReadonlyArray<Action>;
  /** In `OrdConflict` order. */
  readonly conflicts: ReadonlyArray<Conflict>;
  /** Why the device is left exactly as it is, when it is. */
  readonly skipped: O.Option<Skipped>;
  /** Whether the diff evaluates the device (counted in `summary.devices`). */
  readonly evaluated: boolean;
  /** Its published entries already as desired. */
  readonly unchanged: number;
}

/** Devices' steps by device id. */
export const OrdDeviceSteps: Ord.Ord<DeviceSteps> = Ord.contramap((s: DeviceSteps) => s.device)(OrdDeviceId);

/** What one event changed: the new steps of the devices it re-planned, or everything (a new World). */
export type PlanChange = { readonly _tag: "Devices"; readonly steps: ReadonlyArray<DeviceSteps> } | { readonly _tag: "Everything" };

export interface Planner {
  /** Takes one event; the plan is up to date when it returns. */
  readonly apply: (event: PlannerEvent) => PlanChange;
  /** Takes several events and re-plans each device they touch once: the same plan as applying them one by one. */
  readonly applyAll: (events: Iterable<PlannerEvent>) => PlanChange;
  /** The whole plan, equal to `diff(world(), reality(), { now })`; cached until the next change. */
  readonly plan: () => Plan;
  /** The plan's summary, kept by counters (no walk). */
  readonly summary: () => Summary;
  /** One device's steps (empty when the plan says nothing about it). */
  readonly stepsOf: (id: DeviceId) => DeviceSteps;
  /** The steps of every device the plan says something about, in id order. */
  readonly steps: () => IterableIterator<DeviceSteps>;
  readonly world: () => World;
  /** A live, read-only view of the Reality the Planner holds (it changes with later events). */
  readonly reality: () => Reality;
  readonly now: () => Date;
}

// -------------------------------------------------------------------------------------
// the reference: what an event does to a Reality
// -------------------------------------------------------------------------------------

const withKey = <K, V>(m: ReadonlyMap<K, V>, k: K, v: V | undefined): ReadonlyMap<K, V> => {
  const out = new Map(m);
  if (v === undefined) out.delete(k);
  else out.set(k, v);
  return out;
};

const withNested = <V>(
  m: ReadonlyMap<DeviceId, ReadonlyMap<DeploymentName, V>>,
  device: DeviceId,
  deployment: DeploymentName,
  v: V | undefined,
): ReadonlyMap<DeviceId, ReadonlyMap<DeploymentName, V>> => {
  const inner = withKey(m.get(device) ?? new Map<DeploymentName, V>(), deployment, v);
  return withKey(m, device, inner.size === 0 ? undefined : inner);
};

/**
 * The Reality after one event (copying; the Planner's meaning, which the law
 * compares it against). World and time events leave the Reality as it is.
 */
export const realityAfter = (r: Reality, event: PlannerEvent): Reality =>
  matchPlannerEvent<Reality>({
    DeviceReported: ({ device }) => ({ ...r, devices: withKey(r.devices, device.device.id, device) }),
    DeviceGone: ({ id }) => ({ ...r, devices: withKey(r.devices, id, undefined) }),
    Heartbeat: ({ id, at }) => {
      const d = r.devices.get(id);
      return d === undefined ? r : { ...r, devices: withKey(r.devices, id, { device: d.device, lastHeartbeat: at }) };
    },
    DesiredSet: ({ entry }) => ({ ...r, desired: withNested(r.desired, entry.device, entry.deployment, entry) }),
    DesiredDeleted: ({ device, deployment }) => ({ ...r, desired: withNested(r.desired, device, deployment, undefined) }),
    ObservedSet: ({ state }) => ({ ...r, observed: withNested(r.observed, state.device, state.deployment, state) }),
    ObservedDeleted: ({ device, deployment }) => ({ ...r, observed: withNested(r.observed, device, deployment, undefined) }),
    Damaged: ({ id, why }) => ({ ...r, damaged: withKey(r.damaged, id, why) }),
    Repaired: ({ id }) => ({ ...r, damaged: withKey(r.damaged, id, undefined) }),
    WorldReplaced: () => r,
    Tick: () => r,
  })(event);

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const NO_ACTIONS: ReadonlyArray<Action> = Object.freeze([]);
const NO_CONFLICTS: ReadonlyArray<Conflict> = Object.freeze([]);
const NO_TARGETS: Targets = Object.freeze({ fleet: Fleet.empty, devices: [], leftAlone: new Map(), conflicts: [] });

const emptySteps = (device: DeviceId): DeviceSteps => ({ device, actions: NO_ACTIONS, conflicts: NO_CONFLICTS, skipped: O.none, evaluated: false, unchanged: 0 });

const hasSteps = (s: DeviceSteps): boolean => s.actions.length > 0 || s.conflicts.length > 0 || O.isSome(s.skipped);

/** What one device's steps add to the summary's counters (or take away, with `sign` -1). */
interface Counters {
  create: number;
  update: number;
  delete: number;
  unchanged: number;
  devices: number;
  notOnline: number;
  conflicts: number;
  skipped: number;
}

const count = (c: Counters, s: DeviceSteps, sign: 1 | -1): void => {
  for (const a of s.actions) {
    if (a._tag === "Create") c.create += sign;
    else if (a._tag === "Update") c.update += sign;
    else c.delete += sign;
    if (a.presence !== "online") c.notOnline += sign;
  }
  c.unchanged += sign * s.unchanged;
  if (s.evaluated) c.devices += sign;
  c.conflicts += sign * s.conflicts.length;
  if (O.isSome(s.skipped)) c.skipped += sign;
};

/** The device slot: its steps, and the device and resolution they were planned from (reused until a relabel). */
interface Slot {
  steps: DeviceSteps;
  device: Device | undefined;
  resolution: Resolution | undefined;
}

/**
 * A Planner over `world` and `reality` at `options.now`: its first plan is
 * `diff(world, reality, options)`. Building it costs about one full diff.
 */
export const planner = (initialWorld: World, initialReality: Reality, options: DiffOptions): Planner => {
  const offlineAfterMs = options.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS;
  let now = options.now;
  let nowMs = now.getTime();

  // The Reality, copied: outer maps now, each device's inner map on its first write.
  const devices = new Map(initialReality.devices);
  const desired = new Map(initialReality.desired);
  const observed = new Map(initialReality.observed);
  const damaged = new Map(initialReality.damaged);
  const ownDesired = new Set<DeviceId>();
  const ownObserved = new Set<DeviceId>();
  // Rollout ledgers are carried as given: no event changes them (a new ledger means a new Planner).
  const view: Reality = { devices, desired, observed, damaged, ...(initialReality.rollouts !== undefined ? { rollouts: initialReality.rollouts } : {}) };

  let world = initialWorld;
  /**
   * Staged rollouts (a `Waves` deployment, or a ledger to clean up) gate actions across devices
   * (waves, budgets), which no per-device step can decide: then `plan()` is the full `diff`,
   * cached until the next change, over the Reality kept here; the steps stay the raw per-device ones.
   */
  const stagedIn = (w: World): boolean =>
    (view.rollouts?.size ?? 0) > 0 || w.assignments.some((a) => a.deployments.some((d) => isWaves(d.rollout)));
  let staged = stagedIn(world);
  let resolutionFor = resolver(world);
  let redeclared = new Map(world.redeclared.map((r) => [r.id, r.declarations]));

  const slots = new Map<DeviceId, Slot>();
  /** The steps of the devices with any step, in id order (what `plan()` walks). */
  let index = orderedIndex(OrdDeviceId, (s: DeviceSteps) => s.device);
  let counters: Counters = { create: 0, update: 0, delete: 0, unchanged: 0, devices: 0, notOnline: 0, conflicts: 0, skipped: 0 };
  let cached: Plan | undefined;

  const presenceOf = (id: DeviceId): Presence => presence(view, id, nowMs, offlineAfterMs);

  /** The device the diff would evaluate under `id`: the World's declaration, or the registered device. */
  const declaredOf = (id: DeviceId): Device | undefined => (O.isSome(world.fleet) ? world.fleet.value.byId.get(id) : devices.get(id)?.device);

  /** Re-plans one id from scratch (reusing its resolution while its device is the same), as `diff` would. */
  const planOf = (id: DeviceId, previous: Slot | undefined): Slot => {
    const declarations = redeclared.get(id);
    const deviceConflicts: ReadonlyArray<Conflict> = declarations === undefined ? NO_CONFLICTS : [{ _tag: "DeviceConflict", device: id, declarations }];
    const why = damaged.get(id);
    const leftAlone: LeftAlone | undefined =
      why !== undefined ? { _tag: "Unreadable", why } : declarations !== undefined ? { _tag: "Redeclared", declarations } : undefined;
    if (leftAlone !== undefined)
      return {
        steps: { ...emptySteps(id), conflicts: deviceConflicts, skipped: O.some({ device: id, reason: leftAloneText(leftAlone) }) },
        device: undefined,
        resolution: undefined,
      };
    const device = declaredOf(id);
    const published = desired.get(id);
    if (device === undefined) {
      if (published === undefined) return { steps: emptySteps(id), device: undefined, resolution: undefined };
      // Outside the fleet: the diff deletes its entries; the same function says how.
      const actions = removedDevices(NO_TARGETS, { ...emptyReality, desired: new Map([[id, published]]) }, presenceOf);
      return { steps: { ...emptySteps(id), actions }, device: undefined, resolution: undefined };
    }
    const resolution = previous?.device === device && previous.resolution !== undefined ? previous.resolution : resolutionFor(device);
    const step = planDevice(id, resolution, published, presenceOf);
    const conflicts = step.conflicts.length > 1 ? [...step.conflicts].sort(OrdConflict.compare) : step.conflicts;
    return {
      steps:
        step._tag === "Clashing"
          ? { device: id, actions: NO_ACTIONS, conflicts, skipped: O.some({ device: id, reason: step.reason }), evaluated: true, unchanged: 0 }
          : { device: id, actions: step.actions, conflicts, skipped: O.none, evaluated: true, unchanged: step.unchanged },
      device,
      resolution,
    };
  };

  /** Re-plans one id and brings the counters and the index up to date. */
  const replan = (id: DeviceId): DeviceSteps => {
    const before = slots.get(id);
    const after = planOf(id, before);
    if (before !== undefined) count(counters, before.steps, -1);
    count(counters, after.steps, 1);
    const had = before !== undefined && hasSteps(before.steps);
    const has = hasSteps(after.steps);
    if (has) index.set(after.steps);
    else if (had) index.remove(id);
    // A device the plan never mentions and that holds no resolution needs no slot.
    if (!has && after.resolution === undefined && !after.steps.evaluated) slots.delete(id);
    else slots.set(id, after);
    cached = undefined;
    return after.steps;
  };

  /** Plans every id from scratch (at the start, and for a new World). */
  const rebuild = (): void => {
    slots.clear();
    counters = { create: 0, update: 0, delete: 0, unchanged: 0, devices: 0, notOnline: 0, conflicts: 0, skipped: 0 };
    const all = new Set<DeviceId>();
    if (O.isSome(world.fleet)) for (const d of world.fleet.value.devices) all.add(d.id);
    else for (const id of devices.keys()) all.add(id);
    for (const id of desired.keys()) all.add(id);
    for (const id of damaged.keys()) all.add(id);
    const mentioned: DeviceSteps[] = [];
    for (const id of all) {
      const slot = planOf(id, undefined);
      count(counters, slot.steps, 1);
      if (hasSteps(slot.steps)) mentioned.push(slot.steps);
      if (hasSteps(slot.steps) || slot.resolution !== undefined) slots.set(id, slot);
    }
    index = orderedIndex(OrdDeviceId, (s: DeviceSteps) => s.device, mentioned.sort(OrdDeviceSteps.compare));
    cached = undefined;
  };

  const inner = <V>(
    outer: Map<DeviceId, ReadonlyMap<DeploymentName, V>>,
    owned: Set<DeviceId>,
    id: DeviceId,
  ): Map<DeploymentName, V> => {
    const m = outer.get(id);
    if (m !== undefined && owned.has(id)) return m as Map<DeploymentName, V>;
    const copy = new Map(m ?? []);
    outer.set(id, copy);
    owned.add(id);
    return copy;
  };
  const dropIfEmpty = <V>(outer: Map<DeviceId, ReadonlyMap<DeploymentName, V>>, owned: Set<DeviceId>, id: DeviceId): void => {
    if (outer.get(id)?.size === 0) {
      outer.delete(id);
      owned.delete(id);
    }
  };

  /** What an event asks to re-plan once the Reality has taken it. */
  type Touched = { readonly _tag: "Nothing" } | { readonly _tag: "Device"; readonly id: DeviceId } | { readonly _tag: "World" } | { readonly _tag: "Time" };
  const nothing: Touched = { _tag: "Nothing" };
  const touch = (id: DeviceId): Touched => ({ _tag: "Device", id });

  /** Takes an event into the Reality (or the World, or the clock); re-plans nothing. */
  const record = matchPlannerEvent<Touched>({
    DeviceReported: ({ device }) => {
      devices.set(device.device.id, device);
      return touch(device.device.id);
    },
    DeviceGone: ({ id }) => {
      devices.delete(id);
      return touch(id);
    },
    Heartbeat: ({ id, at }) => {
      const d = devices.get(id);
      if (d === undefined) return nothing;
      devices.set(id, { device: d.device, lastHeartbeat: at });
      // Presence only shows in actions: a device without any keeps its steps.
      const slot = slots.get(id);
      return slot === undefined || slot.steps.actions.length === 0 ? nothing : touch(id);
    },
    DesiredSet: ({ entry }) => {
      inner(desired, ownDesired, entry.device).set(entry.deployment, entry);
      return touch(entry.device);
    },
    DesiredDeleted: ({ device, deployment }) => {
      if (desired.get(device)?.has(deployment) !== true) return nothing;
      inner(desired, ownDesired, device).delete(deployment);
      dropIfEmpty(desired, ownDesired, device);
      return touch(device);
    },
    // The plan does not read observed state: it is only kept (for status and for callers).
    ObservedSet: ({ state }) => {
      inner(observed, ownObserved, state.device).set(state.deployment, state);
      return nothing;
    },
    ObservedDeleted: ({ device, deployment }) => {
      if (observed.get(device)?.has(deployment) !== true) return nothing;
      inner(observed, ownObserved, device).delete(deployment);
      dropIfEmpty(observed, ownObserved, device);
      return nothing;
    },
    Damaged: ({ id, why }) => {
      damaged.set(id, why);
      return touch(id);
    },
    Repaired: ({ id }) => (damaged.delete(id) ? touch(id) : nothing),
    WorldReplaced: ({ world: w }) => {
      world = w;
      resolutionFor = resolver(w);
      redeclared = new Map(w.redeclared.map((r) => [r.id, r.declarations]));
      staged = stagedIn(w);
      return { _tag: "World" };
    },
    Tick: ({ now: t }) => {
      now = t;
      nowMs = t.getTime();
      return { _tag: "Time" };
    },
  });

  /** Devices with actions whose presence is no longer what their actions say (time moved on). */
  const presenceChanged = (): DeviceId[] => {
    const changed: DeviceId[] = [];
    for (const s of index.values()) {
      const first = s.actions[0];
      if (first !== undefined && first.presence !== presenceOf(s.device)) changed.push(s.device);
    }
    return changed;
  };

  const everything: PlanChange = { _tag: "Everything" };

  const apply = (event: PlannerEvent): PlanChange => {
    const t = record(event);
    // A staged rollout reads every member's observed state and presence: any event may change its step.
    if (staged) cached = undefined;
    switch (t._tag) {
      case "Nothing":
        return { _tag: "Devices", steps: [] };
      case "Device":
        return { _tag: "Devices", steps: [replan(t.id)] };
      case "World":
        rebuild();
        return everything;
      case "Time":
        return { _tag: "Devices", steps: presenceChanged().map(replan) };
    }
  };

  /** Takes every event, then re-plans each device they touched once (a snapshot read at start, a burst). */
  const applyAll = (events: Iterable<PlannerEvent>): PlanChange => {
    const touched = new Set<DeviceId>();
    let newWorld = false;
    let newTime = false;
    if (staged) cached = undefined;
    for (const e of events) {
      const t = record(e);
      if (t._tag === "Device") touched.add(t.id);
      else if (t._tag === "World") newWorld = true;
      else if (t._tag === "Time") newTime = true;
    }
    if (newWorld) {
      rebuild();
      return everything;
    }
    if (newTime) for (const id of presenceChanged()) touched.add(id);
    return { _tag: "Devices", steps: [...touched].map(replan) };
  };

  // In `summarise`'s key order, so a plan printed as JSON is the same text as the diff's.
  const counted = (): Summary => ({
    create: counters.create,
    update: counters.update,
    delete: counters.delete,
    notOnline: counters.notOnline,
    unchanged: counters.unchanged,
    devices: counters.devices,
    conflicts: counters.conflicts,
    skipped: counters.skipped,
  });
  const summary = (): Summary => (staged ? plan().summary : counted());

  const plan = (): Plan => {
    if (cached !== undefined) return cached;
    if (staged) return (cached = diff(world, view, { now, offlineAfterMs }));
    const actions: Action[] = [];
    const conflicts: Conflict[] = [];
    const skipped: Skipped[] = [];
    for (const s of index.values()) {
      for (const a of s.actions) actions.push(a);
      for (const c of s.conflicts) conflicts.push(c);
      if (O.isSome(s.skipped)) skipped.push(s.skipped.value);
    }
    cached = { actions, conflicts, skipped, summary: counted() };
    return cached;
  };

  rebuild();

  return {
    apply,
    applyAll,
    plan,
    summary,
    stepsOf: (id) => slots.get(id)?.steps ?? emptySteps(id),
    steps: function* () {
      yield* index.values();
    },
    world: () => world,
    reality: () => view,
    now: () => now,
  };
};
