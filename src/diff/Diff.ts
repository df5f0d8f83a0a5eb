/**
 * `diff(world, reality, { now })`: the actions that make reality match the
 * world, pure and closed-form (no clock, environment or randomness inside;
 * `now` is only used to say which targets are offline).
 *
 * Laws (test/laws/diff.test.ts), with `applyPlan` the reference semantics:
 * - convergence: `diff(W, applyPlan(R, diff(W, R)))` has no actions;
 * - idempotence: applying a plan twice equals applying it once;
 * - necessity: dropping any action from a plan breaks convergence;
 * - soundness / completeness: after apply, a device holds exactly the
 *   deployments its assignments give it;
 * - monotonicity: removing a label only removes assignments that read it;
 * - locality: diffing the shards of a partitioned fleet and concatenating
 *   gives the same plan;
 * - determinism: equal inputs give equal plans, in the same order;
 * - dirty edges: damaged or conflicted devices get no action; failed reports
 *   and heartbeats never change the actions; a partially applied plan
 *   re-plans to exactly its remainder.
 */
import * as O from "fp-ts/lib/Option.js";
import { OrdDeviceById, type Device } from "../algebra/Device.ts";
import type { DeviceId } from "../algebra/Name.ts";
import type { World } from "../world/World.ts";
import { compile } from "../selectors/Selector.ts";
import type { Reality } from "./Reality.ts";
import { compareActions, summarise, type Action, type Conflict, type Plan, type Presence, type Skipped } from "./Plan.ts";
import { resolve, type Resolution } from "./Resolve.ts";

export interface DiffOptions {
  /** The time against which heartbeats are judged. */
  readonly now: Date;
  /** A device whose last heartbeat is older than this is offline. Default 90 s. */
  readonly offlineAfterMs?: number;
}

export const DEFAULT_OFFLINE_AFTER_MS = 90_000;


const compareConflicts = (a: Conflict, b: Conflict): number => {
  if (a.device !== b.device) return a.device < b.device ? -1 : 1;
  if (a._tag !== b._tag) return a._tag === "DeviceConflict" ? -1 : 1;
  const da = a._tag === "DeploymentConflict" ? a.deployment : "";
  const db = b._tag === "DeploymentConflict" ? b.deployment : "";
  return da < db ? -1 : da > db ? 1 : 0;
};

/** Merges two action lists that are each in canonical order. */
const mergeSorted = (xs: Action[], ys: Action[]): Action[] => {
  if (ys.length === 0) return xs;
  if (xs.length === 0) return ys;
  const out: Action[] = [];
  let i = 0;
  let j = 0;
  while (i < xs.length && j < ys.length) out.push(compareActions(xs[i] as Action, ys[j] as Action) <= 0 ? (xs[i++] as Action) : (ys[j++] as Action));
  while (i < xs.length) out.push(xs[i++] as Action);
  while (j < ys.length) out.push(ys[j++] as Action);
  return out;
};

/** The fleet to evaluate, with conflicting declarations reported and their devices frozen. */
export const fleetOf = (
  world: World,
  reality: Reality,
  conflicts: Conflict[],
  frozen: Map<DeviceId, string>,
): { readonly devices: ReadonlyArray<Device>; readonly has: (id: DeviceId) => boolean } => {
  if (O.isNone(world.fleet)) {
    const devices = [...reality.devices.values()].map((r) => r.device).sort(OrdDeviceById.compare);
    return { devices, has: (id) => reality.devices.has(id) };
  }
  // Declarations are sorted by id and unique by value: a run of one id is a conflict.
  const decl = world.fleet.value;
  const devices: Device[] = [];
  for (let i = 0; i < decl.length; ) {
    const first = decl[i] as Device;
    let j = i + 1;
    while (j < decl.length && (decl[j] as Device).id === first.id) j++;
    if (j - i > 1) {
      conflicts.push({ _tag: "DeviceConflict", device: first.id, declarations: decl.slice(i, j) });
      if (!frozen.has(first.id)) frozen.set(first.id, "declared more than once, differently");
    }
    devices.push(first);
    i = j;
  }
  // Only the orphan scan needs membership, and usually it is skipped: build the set on first use.
  let ids: Set<DeviceId> | undefined;
  return { devices, has: (id) => (ids ??= new Set(devices.map((d) => d.id))).has(id) };
};

/**
 * Per-device resolution for a World, cached by match signature (which
 * assignments match): devices matching the same assignments share one result.
 */
export const resolver = (world: World): ((d: Device) => Resolution) => {
  const assignments = world.assignments;
  const predicates = assignments.map((a) => compile(a.selector));
  const n = predicates.length;
  const cache = new Map<number | string, Resolution>();
  return (d) => {
    let key: number | string;
    if (n <= 30) {
      let mask = 0;
      for (let i = 0; i < n; i++) if ((predicates[i] as (d: Device) => boolean)(d)) mask |= 1 << i;
      key = mask;
    } else {
      key = predicates.map((p) => (p(d) ? "1" : "0")).join("");
    }
    let res = cache.get(key);
    if (res === undefined) {
      const k = key;
      res = resolve(assignments.filter((_, i) => (typeof k === "number" ? (k & (1 << i)) !== 0 : k[i] === "1")));
      cache.set(key, res);
    }
    return res;
  };
};

/** Whether a device can act now, judged from its last heartbeat. */
export const presence = (reality: Reality, id: DeviceId, nowMs: number, offlineAfterMs: number): Presence => {
  const r = reality.devices.get(id);
  if (r === undefined) return "unregistered";
  return r.lastHeartbeat !== undefined && nowMs - r.lastHeartbeat.getTime() <= offlineAfterMs ? "online" : "offline";
};

export const diff = (world: World, reality: Reality, options: DiffOptions): Plan => {
  const nowMs = options.now.getTime();
  const offlineAfter = options.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS;
  const presenceOf = (id: DeviceId): Presence => presence(reality, id, nowMs, offlineAfter);

  const conflicts: Conflict[] = [];
  // A device we cannot read completely, or whose declaration is ambiguous, is left exactly as it is.
  const frozen = new Map<DeviceId, string>([...reality.damaged].map(([id, why]) => [id, `unreadable record: ${why}`]));
  const fleet = fleetOf(world, reality, conflicts, frozen);

  const resolutionFor = resolver(world);

  let actions: Action[] = [];
  let unchanged = 0;
  let evaluated = 0;
  const anyFrozen = frozen.size > 0;
  let publishedSeen = 0;
  for (const d of fleet.devices) {
    if (anyFrozen && frozen.has(d.id)) continue;
    evaluated++;
    const res = resolutionFor(d);
    for (const c of res.conflicts) conflicts.push({ _tag: "DeploymentConflict", device: d.id, ...c });
    const published = reality.desired.get(d.id);
    if (published !== undefined) publishedSeen++;
    const start = actions.length;
    let presence: Presence | undefined;
    // Walk what is published (one pass over the device's own, cold, entries) and
    // look each name up in the resolution, shared by many devices and so hot.
    let matched = 0;
    let fromPublished = 0;
    if (published !== undefined)
      for (const p of published.values()) {
        const e = res.byName.get(p.deployment);
        if (e === undefined) {
          if (res.conflicted.has(p.deployment)) continue;
          presence ??= presenceOf(d.id);
          actions.push({
            _tag: "Delete",
            device: d.id,
            deployment: p.deployment,
            previous: { specHash: p.specHash, fingerprint: p.fingerprint },
            reason: { _tag: "Unassigned" },
            presence,
          });
          fromPublished++;
          continue;
        }
        matched++;
        if (p.specHash === e.specHash) unchanged++;
        else {
          presence ??= presenceOf(d.id);
          actions.push({
            _tag: "Update",
            device: d.id,
            deployment: e.name,
            spec: e.deployment,
            specHash: e.specHash,
            previous: { specHash: p.specHash, fingerprint: p.fingerprint },
            reason: e.by,
            presence,
          });
          fromPublished++;
        }
      }
    let created = 0;
    if (matched < res.entries.length)
      for (const e of res.entries) {
        if (published?.has(e.name) === true) continue;
        presence ??= presenceOf(d.id);
        actions.push({ _tag: "Create", device: d.id, deployment: e.name, spec: e.deployment, specHash: e.specHash, reason: e.by, presence });
        created++;
      }
    // Creates come in name order; what came from the published map comes in its own order.
    if (fromPublished > 1 || (fromPublished === 1 && created > 0)) {
      const mine = actions.splice(start).sort(compareActions);
      for (const a of mine) actions.push(a);
    }
  }

  // Published entries of devices that are no longer in the fleet at all. When every
  // device with entries was met above (the common case), there are none: skip the scan.
  const removed: Action[] = [];
  if (publishedSeen < reality.desired.size) for (const [id, entries] of reality.desired) {
    if (fleet.has(id) || frozen.has(id)) continue;
    const presence = presenceOf(id);
    for (const [name, p] of entries)
      removed.push({
        _tag: "Delete",
        device: id,
        deployment: name,
        previous: { specHash: p.specHash, fingerprint: p.fingerprint },
        reason: { _tag: "DeviceRemoved" },
        presence,
      });
  }
  actions = mergeSorted(actions, removed.sort(compareActions));

  const skipped: Skipped[] = [...frozen].map(([device, reason]) => ({ device, reason })).sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  conflicts.sort(compareConflicts);
  return {
    actions,
    conflicts,
    skipped,
    summary: summarise(actions, { unchanged, devices: evaluated, conflicts: conflicts.length, skipped: skipped.length }),
  };
};
