/**
 * `diff(world, reality, { now })`: the actions that make reality match the
 * world, pure and closed-form (no clock, environment or randomness inside;
 * `now` is only used to say which targets are offline).
 *
 * It is two steps: `planDevice` for each device of the fleet that is not left
 * alone (`targets`), then `removedDevices` for the entries of devices no
 * longer in the fleet. `planDevice` is the unit an incremental planner
 * re-runs when one device or its entries change.
 *
 * A device whose deployments clash (one host port bound twice, two volumes
 * at one path of a service; `Clash.ts`) is left exactly as it is, like a
 * device declared twice: the clash is reported as a conflict, the device is
 * skipped, and nothing it runs is touched until the World is fixed.
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
 * - the fast diff equals the naive model (test/laws/model.ts);
 * - no plan gives a device two bindings of one host port;
 * - dirty edges: damaged or conflicted devices get no action; failed reports
 *   and heartbeats never change the actions; a partially applied plan
 *   re-plans to exactly its remainder.
 */
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import type { World } from "../world/World.ts";
import { clashes, type Clash } from "./Clash.ts";
import { OrdAction, OrdConflict, OrdRolloutProgress, OrdSkipped, summarise, type Action, type Conflict, type Plan, type Presence, type RolloutProgress, type Skipped } from "./Plan.ts";
import { isWaves, type Waves } from "../algebra/Rollout.ts";
import { OrdLedgerWrite, rolloutKey, type LedgerWrite, type RolloutKey } from "./Ledger.ts";
import { step as rolloutStep, type RolloutGroup } from "./Rollout.ts";
import type { DesiredEntry, Reality } from "./Reality.ts";
import { resolver, type Resolution, type Resolved } from "./Resolve.ts";
import { skippedOf, targets, type Targets } from "./Targets.ts";

export { resolver } from "./Resolve.ts";

export interface DiffOptions {
  /** The time against which heartbeats are judged. */
  readonly now: Date;
  /** A device whose last heartbeat is older than this is offline. Default 90 s. */
  readonly offlineAfterMs?: number;
}

export const DEFAULT_OFFLINE_AFTER_MS = 90_000;

/** Whether a device can act now, judged from its last heartbeat. */
export const presence = (reality: Reality, id: DeviceId, nowMs: number, offlineAfterMs: number): Presence => {
  const r = reality.devices.get(id);
  if (r === undefined) return "unregistered";
  return r.lastHeartbeat !== undefined && nowMs - r.lastHeartbeat.getTime() <= offlineAfterMs ? "online" : "offline";
};

/** `presence` at the options' `now`. */
export const presenceAt =
  (reality: Reality, options: DiffOptions) =>
  (id: DeviceId): Presence =>
    presence(reality, id, options.now.getTime(), options.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS);

// -------------------------------------------------------------------------------------
// one device
// -------------------------------------------------------------------------------------

export type DeviceStep =
  | {
      /** The actions that make the device's published entries its resolution, in `OrdAction` order. */
      readonly _tag: "Planned";
      readonly actions: ReadonlyArray<Action>;
      /** Deployment conflicts: their names get no action, their published entries stay. */
      readonly conflicts: ReadonlyArray<Conflict>;
      /** Published entries already as desired. */
      readonly unchanged: number;
    }
  | {
      /** The device's deployments clash: no action, the device is left exactly as it is. */
      readonly _tag: "Clashing";
      readonly conflicts: ReadonlyArray<Conflict>;
      readonly reason: string;
    };

const NO_ACTIONS: ReadonlyArray<Action> = Object.freeze([]);
const NO_CONFLICTS: ReadonlyArray<Conflict> = Object.freeze([]);

/**
 * What the device would run after the plan: its resolved deployments, plus
 * the published specs of names in conflict (those entries stay). Clashes
 * among the resolved ones are computed once per resolution.
 */
const clashesOf = (res: Resolution, published: ReadonlyMap<DeploymentName, DesiredEntry> | undefined): ReadonlyArray<Clash> => {
  if (res.conflicted.size === 0 || published === undefined) return res.clashes;
  const kept = [...res.conflicted].flatMap((name) => published.get(name)?.spec ?? []);
  return kept.length === 0 ? res.clashes : clashes([...res.entries.map((e) => e.deployment), ...kept]);
};

const clashConflict = (device: DeviceId, c: Clash): Conflict =>
  c._tag === "HostPort"
    ? { _tag: "HostPortConflict", device, protocol: c.protocol, hostPort: c.hostPort, bindings: c.bindings }
    : { _tag: "MountConflict", device, deployment: c.deployment, service: c.service, target: c.target, sources: c.sources };

const clashText = (c: Clash): string =>
  c._tag === "HostPort" ? `host port ${c.hostPort}/${c.protocol} bound ${c.bindings.length} times` : `${c.deployment}/${c.service} mounts ${c.sources.length} volumes at ${c.target}`;

/**
 * Whether a device targeted by a staged deployment needs a step towards the target: no entry (a Create)
 * or an entry of another spec (an Update). With `holdStaged`, `planDevice` holds exactly these; a repair
 * of a tampered entry at the target spec is not a step.
 */
const needsStep = (published: DesiredEntry | undefined, target: Resolved): boolean => published === undefined || published.specHash !== target.specHash;

/**
 * One device: its resolution against its published entries. Missing →
 * Create, another hash → Update, published but not resolved (and not in
 * conflict) → Delete. `presenceOf` is only called when there is an action.
 *
 * With `holdStaged`, the Create or Update that would move a deployment with a
 * staged (`Waves`) policy to its resolved spec is not built: the diff hands
 * such a deployment to its rollout (Rollout.ts), which builds the few actions
 * a step allows. Deletes and repairs of tampered entries at the resolved spec
 * are never held.
 */
export const planDevice = (
  device: DeviceId,
  res: Resolution,
  published: ReadonlyMap<DeploymentName, DesiredEntry> | undefined,
  presenceOf: (id: DeviceId) => Presence,
  holdStaged = false,
): DeviceStep => {
  const deploymentConflicts =
    res.conflicts.length === 0 ? NO_CONFLICTS : res.conflicts.map((c): Conflict => ({ _tag: "DeploymentConflict", device, ...c }));
  const clashing = clashesOf(res, published);
  if (clashing.length > 0)
    return {
      _tag: "Clashing",
      conflicts: [...deploymentConflicts, ...clashing.map((c) => clashConflict(device, c))],
      reason: `deployments clash: ${clashing.map(clashText).join("; ")}`,
    };

  let actions: Action[] | undefined;
  let presence: Presence | undefined;
  // Walk the device's own (cold) published entries once, looking names up in the
  // resolution, which many devices share and so is hot.
  let unchanged = 0;
  let matched = 0;
  if (published !== undefined)
    for (const p of published.values()) {
      const e = res.byName.get(p.deployment);
      if (e === undefined) {
        if (res.conflicted.has(p.deployment)) continue;
        (actions ??= []).push({
          _tag: "Delete",
          device,
          deployment: p.deployment,
          previous: { specHash: p.specHash, fingerprint: p.fingerprint },
          reason: { _tag: "Unassigned" },
          presence: (presence ??= presenceOf(device)),
        });
      } else if (p.specHash === e.specHash && p.tampered === undefined) {
        matched++;
        unchanged++;
      } else if (holdStaged && needsStep(p, e) && isWaves(e.deployment.rollout)) {
        matched++;
      } else {
        matched++;
        // A tampered entry is republished even when its stated hash is the wanted one: the hash lies.
        (actions ??= []).push({
          _tag: "Update",
          device,
          deployment: e.name,
          spec: e.deployment,
          specHash: e.specHash,
          previous: { specHash: p.specHash, fingerprint: p.fingerprint },
          reason: e.by,
          presence: (presence ??= presenceOf(device)),
          ...(p.tampered !== undefined ? { repair: p.tampered } : {}),
        });
      }
    }
  if (matched < res.entries.length)
    for (const e of res.entries)
      // Not published: a staged one needs a step (`needsStep`) and is held.
      if (published?.has(e.name) !== true && !(holdStaged && isWaves(e.deployment.rollout)))
        (actions ??= []).push({
          _tag: "Create",
          device,
          deployment: e.name,
          spec: e.deployment,
          specHash: e.specHash,
          reason: e.by,
          presence: (presence ??= presenceOf(device)),
        });
  // Published entries come in their map's order: put the device's actions in canonical order.
  if (actions !== undefined && actions.length > 1) actions.sort(OrdAction.compare);
  return { _tag: "Planned", actions: actions ?? NO_ACTIONS, conflicts: deploymentConflicts, unchanged };
};

// -------------------------------------------------------------------------------------
// devices no longer in the fleet
// -------------------------------------------------------------------------------------

/** Deletes for the published entries of devices outside the fleet (damaged ones excepted), in `OrdAction` order. */
export const removedDevices = (t: Targets, reality: Reality, presenceOf: (id: DeviceId) => Presence): ReadonlyArray<Action> => {
  const removed: Action[] = [];
  for (const [device, entries] of reality.desired) {
    if (t.fleet.byId.has(device) || t.leftAlone.has(device)) continue;
    const presence = presenceOf(device);
    for (const [deployment, p] of entries)
      removed.push({ _tag: "Delete", device, deployment, previous: { specHash: p.specHash, fingerprint: p.fingerprint }, reason: { _tag: "DeviceRemoved" }, presence });
  }
  return removed.sort(OrdAction.compare);
};

/** Merges two action lists that are each in canonical order. */
const mergeSorted = (xs: ReadonlyArray<Action>, ys: ReadonlyArray<Action>): ReadonlyArray<Action> => {
  if (ys.length === 0) return xs;
  if (xs.length === 0) return ys;
  const out: Action[] = [];
  let i = 0;
  let j = 0;
  while (i < xs.length && j < ys.length) out.push(OrdAction.compare(xs[i] as Action, ys[j] as Action) <= 0 ? (xs[i++] as Action) : (ys[j++] as Action));
  while (i < xs.length) out.push(xs[i++] as Action);
  while (j < ys.length) out.push(ys[j++] as Action);
  return out;
};

// -------------------------------------------------------------------------------------
// the fleet
// -------------------------------------------------------------------------------------

export const diff = (world: World, reality: Reality, options: DiffOptions): Plan => diffTargets(world, reality, options, targets(world, reality));

/**
 * `diff` with its `targets(world, reality)` computed by the caller, which
 * needs them too (a plan's warnings): for registered devices, building the
 * fleet is a pass over every device.
 */
export const diffTargets = (world: World, reality: Reality, options: DiffOptions, t: Targets): Plan => {
  const presenceOf = presenceAt(reality, options);
  const resolutionFor = resolver(world);

  const actions: Action[] = [];
  const conflicts: Conflict[] = [...t.conflicts];
  const skipped: Skipped[] = [...skippedOf(t)];
  const groups = new Map<RolloutKey, RolloutGroup>();
  const groupOf = new Map<Resolved, RolloutGroup>();
  let unchanged = 0;
  let withEntries = 0;
  for (const d of t.devices) {
    const published = reality.desired.get(d.id);
    if (published !== undefined) withEntries++;
    const res = resolutionFor(d);
    const rolling = stagedOf(res);
    const step = planDevice(d.id, res, published, presenceOf, rolling.length > 0);
    for (const c of step.conflicts) conflicts.push(c);
    if (step._tag === "Clashing") {
      skipped.push({ device: d.id, reason: step.reason });
      continue;
    }
    unchanged += step.unchanged;
    for (const a of step.actions) actions.push(a);
    if (rolling.length === 0) continue;
    // Staged deployments: hand the device to its rollouts, which decide what it may receive now.
    const observed = reality.observed.get(d.id);
    const presence = presenceOf(d.id);
    for (const e of rolling) {
      let g = groupOf.get(e);
      if (g === undefined) {
        // Resolutions are shared by the devices that match the same assignments: look each one's group up once.
        const key = rolloutKey(e.name, e.specHash);
        g = groups.get(key);
        if (g === undefined) groups.set(key, (g = { name: e.name, target: e, policy: e.deployment.rollout as Waves, members: [] }));
        groupOf.set(e, g);
      }
      const p = published?.get(e.name);
      g.members.push({ device: d, resolved: e, published: p, observed: observed?.get(e.name), presence, towards: needsStep(p, e) });
    }
  }
  // When every device with entries was met above (the common case), no device was removed.
  const removed = withEntries < reality.desired.size ? removedDevices(t, reality, presenceOf) : NO_ACTIONS;
  const staged = stageRollouts(groups, reality, options);
  const all = mergeSorted(mergeSorted(actions, removed), staged.actions);

  return {
    actions: all,
    conflicts: conflicts.sort(OrdConflict.compare),
    skipped: skipped.sort(OrdSkipped.compare),
    summary: summarise(all, { unchanged, devices: t.devices.length, conflicts: conflicts.length, skipped: skipped.length }),
    ...(staged.progress.length > 0 ? { rollouts: staged.progress } : {}),
    ...(staged.ledger.length > 0 ? { ledger: staged.ledger } : {}),
  };
};

// -------------------------------------------------------------------------------------
// staged rollouts
// -------------------------------------------------------------------------------------

const stagedCache = new WeakMap<Resolution, ReadonlyArray<Resolved>>();
/** The resolved entries whose deployment has a staged (`Waves`) policy, once per shared resolution. */
const stagedOf = (res: Resolution): ReadonlyArray<Resolved> => {
  let s = stagedCache.get(res);
  if (s === undefined) stagedCache.set(res, (s = res.entries.filter((e) => isWaves(e.deployment.rollout))));
  return s;
};

/** Each rollout's step (Rollout.ts), and the ledgers of rollouts no device targets any more, removed. */
const stageRollouts = (
  groups: ReadonlyMap<RolloutKey, RolloutGroup>,
  reality: Reality,
  options: DiffOptions,
): { readonly actions: ReadonlyArray<Action>; readonly progress: ReadonlyArray<RolloutProgress>; readonly ledger: ReadonlyArray<LedgerWrite> } => {
  if (groups.size === 0 && (reality.rollouts === undefined || reality.rollouts.size === 0)) return { actions: NO_ACTIONS, progress: [], ledger: [] };
  const actions: Action[] = [];
  const progress: RolloutProgress[] = [];
  const ledger: LedgerWrite[] = [];
  for (const [key, g] of groups) {
    const s = rolloutStep(g, reality.rollouts?.get(key), { now: options.now });
    for (const a of s.actions) actions.push(a);
    progress.push(s.progress);
    if (s.ledger !== undefined) ledger.push(s.ledger);
  }
  for (const key of reality.rollouts?.keys() ?? []) if (!groups.has(key)) ledger.push({ _tag: "Remove", key });
  return { actions: actions.sort(OrdAction.compare), progress: progress.sort(OrdRolloutProgress.compare), ledger: ledger.sort(OrdLedgerWrite.compare) };
};
