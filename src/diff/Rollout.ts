/**
 * The step a staged rollout allows now (docs/rollouts.md).
 *
 * The diff computes, per device, the actions that would make it match the
 * World. For a deployment with a `Waves` policy, those that would move a
 * device to the rolled-out spec (the *target*) are not applied at once, and
 * not even built by the diff (a step allows few of them): the diff hands each
 * targeted device to `step` as a `Member`, and `step` builds only the actions
 * the policy allows now, from Reality (what is published, what agents report,
 * who is online), the rollout's ledger (`Ledger.ts`) and `now`; the rest
 * wait, as data, with their gate.
 *
 * Waves. The targeted devices are split by the policy's waves in order: a
 * wave takes the devices that match its selector (all, when it has none),
 * that no earlier wave took, and that fall under its limit. A percentage
 * limit is a share of a stable hash space: each device has a ticket in
 * [0, 1) from its own id and the deployment name, and a wave whose limits
 * add up (with those of the waves before it) to `c` % takes the devices with
 * a ticket below `c / 100`. So a device's wave depends on its own id and
 * labels only, never on the other devices. A count limit takes the devices
 * with the lowest tickets when the wave opens, and the ledger pins them, so
 * that later arrivals never move them. The devices no wave took form one last
 * wave.
 *
 * Gates. The first wave opens when the rollout starts; wave k + 1 opens when
 * wave k *passed*: at least `ceil(threshold · n / 100)` of its n online
 * devices run the target (healthy, where a health check is declared). A wave
 * *fails* when that can no longer happen (more than `n - needed` failed at the
 * target), or when it has not passed `waveTimeout` after it opened. A wave
 * with no online device passes: offline devices never block (`defer`); they
 * are updated when they return, once their wave is open.
 *
 * Budget. Within the open waves, in every `groupBy` group of the targeted
 * devices that are online, the devices not available (not running the target
 * or their published spec, healthy) never exceed `maxUnavailable`, and those
 * available never drop below `minAvailable`, counting devices already
 * failing. Updating a device that is already unavailable costs nothing.
 * Offline devices count as neither.
 *
 * Failure. `pause` publishes nothing new for the target; `rollback` returns
 * every device the rollout updated to the exact spec it held before (or to no
 * entry), as ordinary actions, paced by the budget like any step (a device
 * failing at the target goes back at once). Both last until the World names
 * another spec.
 *
 * Newcomers (a device targeted after the rollout started, with no entry): in
 * an open wave it receives the target; in a wave not yet open it receives the
 * spec most devices ran when the rollout started (the ledger's `base`, whose
 * spec the ledger keeps from the start), or waits when there was none.
 *
 * Deletes, repairs of tampered entries at the target spec, and deployments
 * with the `Immediate` policy are never held.
 */
import * as N from "fp-ts/lib/number.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import { deliverable, hasHealthCheck, type Deployment } from "../algebra/Deployment.ts";
import type { Device } from "../algebra/Device.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { needed, ofCount, percentOf, type Waves, type WavePolicy } from "../algebra/Rollout.ts";
import { compile } from "../selectors/Selector.ts";
import { parseSelector } from "../selectors/Parse.ts";
import { rolloutKey, type LedgerWrite, type OpenedWave, type RolloutRecord } from "./Ledger.ts";
import type { Action, GateState, Presence, RolloutProgress, RolloutState, WaveProgress } from "./Plan.ts";
import type { DesiredEntry, ObservedState } from "./Reality.ts";
import type { Resolved } from "./Resolve.ts";

// -------------------------------------------------------------------------------------
// inputs
// -------------------------------------------------------------------------------------

/** One targeted device, as the diff saw it. */
export interface Member {
  readonly device: Device;
  /** Its resolution of the deployment: the target spec, and the assignment that gives it (the actions' reason). */
  readonly resolved: Resolved;
  readonly published: DesiredEntry | undefined;
  readonly observed: ObservedState | undefined;
  readonly presence: Presence;
  /**
   * Whether it needs a step towards the target: no entry (a Create) or an entry of another spec (an Update).
   * The diff does not build these actions (a step allows few of them); `towardsTarget` does, for those allowed.
   */
  readonly towards: boolean;
}

/** The Create or Update that moves a member to the target, as delivered (policy stripped) with its prior. */
const towardsTarget = (m: Member): Action => {
  const e = m.resolved;
  const p = m.published;
  return p === undefined
    ? { _tag: "Create", device: m.device.id, deployment: e.name, spec: deliverable(e.deployment), specHash: e.specHash, reason: e.by, presence: m.presence, prior: null }
    : {
        _tag: "Update",
        device: m.device.id,
        deployment: e.name,
        spec: deliverable(e.deployment),
        specHash: e.specHash,
        previous: { specHash: p.specHash, fingerprint: p.fingerprint },
        reason: e.by,
        presence: m.presence,
        ...(p.tampered !== undefined ? { repair: p.tampered } : {}),
        prior: p.specHash,
      };
};

/** One rollout: a deployment name, the resolved target spec with its `Waves` policy, and its targeted devices in id order. */
export interface RolloutGroup {
  readonly name: DeploymentName;
  readonly target: Resolved;
  readonly policy: Waves;
  readonly members: Member[];
}

export interface StepOptions {
  readonly now: Date;
}

export interface RolloutStep {
  /** The actions allowed now, in no particular order. */
  readonly actions: ReadonlyArray<Action>;
  readonly progress: RolloutProgress;
  /** The ledger record to write, when it changed. */
  readonly ledger: LedgerWrite | undefined;
}

// -------------------------------------------------------------------------------------
// tickets and wave membership
// -------------------------------------------------------------------------------------

/** FNV-1a (32 bit) of `deployment \0 device`, in [0, 1): cheap, stable across versions and platforms. */
export const ticket = (deployment: string, device: string): number => ticketFrom(prefixState(deployment), device);

/** The FNV state after `deployment \0`: each rollout hashes its prefix once, not once per device. */
const prefixState = (deployment: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < deployment.length; i++) {
    h ^= deployment.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return Math.imul(h ^ 0, 0x01000193); // the \0 separator
};

const ticketFrom = (state: number, device: string): number => {
  let h = state;
  for (let i = 0; i < device.length; i++) {
    h ^= device.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche so that ids differing in their last character spread over the whole range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) / 0x1_0000_0000;
};

const compiled = new Map<string, (d: Device) => boolean>();
/** Selector text → predicate (policies are checked at load time; an unparsable one matches nothing). */
const matcher = (text: string): ((d: Device) => boolean) => {
  let p = compiled.get(text);
  if (p === undefined) {
    const parsed = parseSelector(text);
    compiled.set(text, (p = parsed._tag === "Right" ? compile(parsed.right) : () => false));
  }
  return p;
};

interface Ticketed {
  readonly i: number;
  readonly ticket: number;
  readonly id: string;
}
const OrdTicketed: Ord.Ord<Ticketed> = concatAll(Ord.getMonoid<Ticketed>())([
  Ord.contramap((x: Ticketed) => x.ticket)(N.Ord),
  Ord.contramap((x: Ticketed) => x.id)(S.Ord),
]);

/**
 * The wave of every member (index into `policy.waves`, or `policy.waves.length`
 * for the rest), and the devices each count-limited wave would pin if it
 * opened now.
 */
export const waveMembership = (
  name: DeploymentName,
  policy: Waves,
  devices: ReadonlyArray<Device>,
  opened: ReadonlyArray<OpenedWave>,
): { readonly wave: Int32Array; readonly pins: ReadonlyArray<ReadonlyArray<DeviceId> | undefined> } => {
  const n = devices.length;
  const wave = new Int32Array(n).fill(-1);
  const pins: Array<ReadonlyArray<DeviceId> | undefined> = [];
  const tickets = new Float64Array(n).fill(-1);
  const prefix = prefixState(name);
  const ticketOf = (i: number): number => {
    let t = tickets[i] as number;
    if (t < 0) tickets[i] = t = ticketFrom(prefix, (devices[i] as Device).id);
    return t;
  };
  let cumulative = 0;
  policy.waves.forEach((w: WavePolicy, k) => {
    const matches = w.selector === undefined ? undefined : matcher(w.selector);
    const pct = w.limit === undefined ? undefined : percentOf(w.limit);
    if (pct !== undefined) cumulative = Math.min(100, cumulative + pct);
    if (typeof w.limit === "number") {
      const pinned = opened[k]?.pinned;
      if (pinned !== undefined) {
        const set = new Set<string>(pinned);
        for (let i = 0; i < n; i++) if (wave[i] === -1 && set.has((devices[i] as Device).id)) wave[i] = k;
        pins.push(pinned);
        return;
      }
      const candidates: Ticketed[] = [];
      for (let i = 0; i < n; i++)
        if (wave[i] === -1 && (matches === undefined || matches(devices[i] as Device)))
          candidates.push({ i, ticket: ticketOf(i), id: (devices[i] as Device).id });
      const taken = candidates.length <= w.limit ? candidates : candidates.sort(OrdTicketed.compare).slice(0, w.limit);
      for (const c of taken) wave[c.i] = k;
      pins.push(taken.map((c) => (devices[c.i] as Device).id));
      return;
    }
    pins.push(undefined);
    const cut = cumulative / 100;
    for (let i = 0; i < n; i++)
      if (wave[i] === -1 && (matches === undefined || matches(devices[i] as Device)) && (pct === undefined || ticketOf(i) < cut)) wave[i] = k;
  });
  const rest = policy.waves.length;
  for (let i = 0; i < n; i++) if (wave[i] === -1) wave[i] = rest;
  return { wave, pins };
};

// -------------------------------------------------------------------------------------
// device states
// -------------------------------------------------------------------------------------

/** Healthy where the running spec declares a health check (no verdict yet, or from an older agent, is not healthy), else running is enough. */
const healthy = (o: ObservedState, spec: Deployment | undefined): boolean => (o.health === undefined ? spec === undefined || !hasHealthCheck(spec) : o.health === "healthy");

/** Published at the target (and trustworthy). */
const atTarget = (m: Member, target: string): boolean => m.published !== undefined && m.published.specHash === target && m.published.tampered === undefined;

/** Runs the target, healthy. */
const succeeded = (m: Member, target: string, spec: Deployment): boolean => {
  const o = m.observed;
  return atTarget(m, target) && o !== undefined && o.phase === "Running" && o.specHash === target && healthy(o, spec);
};

/** Failed, rejected or unhealthy at the target. */
const failedAt = (m: Member, target: string): boolean => {
  const o = m.observed;
  if (!atTarget(m, target) || o === undefined || o.specHash !== target) return false;
  return o.phase === "Failed" || o.phase === "Rejected" || (o.phase === "Running" && o.health === "unhealthy");
};

/** Runs, healthy, the target or the spec published for it. */
export const available = (m: Member, target: string, spec: Deployment): boolean => {
  const o = m.observed;
  if (o === undefined || o.phase !== "Running" || o.specHash === undefined) return false;
  if (o.specHash === target) return healthy(o, spec);
  return o.specHash === m.published?.specHash && healthy(o, m.published.spec);
};

// -------------------------------------------------------------------------------------
// the step
// -------------------------------------------------------------------------------------

const describeWave = (w: WavePolicy | undefined): string => {
  if (w === undefined) return "the rest";
  const limit = w.limit === undefined ? undefined : typeof w.limit === "number" ? `${w.limit} device${w.limit === 1 ? "" : "s"}` : w.limit.replace("%", " %");
  return [w.selector, limit].filter((x) => x !== undefined).join(", ") || "all";
};

const groupKey = (d: Device, by: ReadonlyArray<string>): string =>
  by.length === 0 ? "" : by.length === 1 ? (d.labels[by[0] as string] ?? "") : by.map((k) => d.labels[k] ?? "").join("\u0000");

/** The most frequent published spec hash among the members not at the target (ties: the smallest hash). */
const baseOf = (members: ReadonlyArray<Member>, target: string): string | undefined => {
  const counts = new Map<string, number>();
  for (const m of members) {
    const h = m.published?.specHash;
    if (h !== undefined && h !== target) counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestCount = 0;
  for (const [h, c] of counts) if (c > bestCount || (c === bestCount && best !== undefined && h < best)) [best, bestCount] = [h, c];
  return best;
};

export const step = (group: RolloutGroup, record: RolloutRecord | undefined, options: StepOptions): RolloutStep => {
  const { name, policy, members } = group;
  const target = group.target.specHash;
  const targetSpec = group.target.deployment;
  const now = options.now;
  const W = policy.waves.length; // the rest is wave W
  const problems: string[] = [];

  // Nothing to do and nothing remembered: no rollout to speak of.
  const todo = members.some((m) => m.towards);
  // A rollout starts only when some device could take a step now: one whose every device is
  // offline (a fresh fleet not yet registered) would pass each wave with no evidence and,
  // complete, hand every device the target at once when they come online.
  const startable = members.some((m) => m.towards && m.presence === "online");
  const { wave, pins } = waveMembership(
    name,
    policy,
    members.map((m) => m.device),
    record?.waves ?? [],
  );

  const counts = Array.from({ length: W + 1 }, () => ({ targeted: 0, updated: 0, succeeded: 0, failed: 0, pending: 0, offline: 0, online: 0, waiting: [] as DeviceId[] }));
  members.forEach((m, i) => {
    const c = counts[wave[i] as number] as (typeof counts)[number];
    c.targeted++;
    const online = m.presence === "online";
    if (online) c.online++;
    else c.offline++;
    if (atTarget(m, target)) {
      c.updated++;
      if (online && succeeded(m, target, targetSpec)) c.succeeded++;
      if (online && failedAt(m, target)) c.failed++;
    } else c.pending++;
  });
  if (record === undefined)
    policy.waves.forEach((w, k) => {
      if (w.selector !== undefined && (counts[k] as (typeof counts)[number]).targeted === 0)
        problems.push(`waves[${k}].selector ${JSON.stringify(w.selector)} selects none of the ${members.length} devices ${name} targets`);
    });

  const thresholdOf = (k: number): number => policy.waves[k]?.successThreshold ?? policy.successThreshold;
  const passed = (k: number): boolean => {
    const c = counts[k] as (typeof counts)[number];
    return c.succeeded >= needed(thresholdOf(k), c.online);
  };
  const unreachable = (k: number): boolean => {
    const c = counts[k] as (typeof counts)[number];
    return c.failed > c.online - needed(thresholdOf(k), c.online);
  };

  // Advance the ledger: start, open the waves whose predecessor passed, record a failure or the end.
  let next: RolloutRecord | undefined = record;
  if (next === undefined && startable && problems.length === 0) {
    const base = baseOf(members, target);
    next = { deployment: name, target, startedAt: now, waves: [opening(now, pins[0])], priors: {}, ...(base !== undefined ? { base } : {}) };
  }
  if (next !== undefined && next.outcome === undefined) {
    for (;;) {
      const k: number = next.waves.length - 1;
      const opened = next.waves[k] as OpenedWave;
      const timedOut = policy.waveTimeoutSeconds !== undefined && now.getTime() - opened.openedAt.getTime() > policy.waveTimeoutSeconds * 1000;
      if (passed(k)) {
        if (k === W) {
          next = { ...next, outcome: { _tag: "Complete", at: now } };
          break;
        }
        next = { ...next, waves: [...next.waves, opening(now, pins[k + 1])] };
        continue;
      }
      if (unreachable(k) || timedOut) {
        const c = counts[k] as (typeof counts)[number];
        const reason = unreachable(k)
          ? `wave ${k + 1}: ${c.failed} of ${c.online} failed; ${needed(thresholdOf(k), c.online)} must succeed (${thresholdOf(k)} %)`
          : `wave ${k + 1}: not passed within ${policy.waveTimeoutSeconds} s (${c.succeeded} of ${c.online} succeeded, ${needed(thresholdOf(k), c.online)} needed)`;
        next = { ...next, outcome: { _tag: "Failed", wave: k, at: now, reason, then: policy.onFailure } };
      }
      break;
    }
  }

  const openWaves = next === undefined ? 0 : next.waves.length;
  const outcome = next?.outcome;
  const actions: Action[] = [];
  const priors: Record<string, Deployment> = { ...(next?.priors ?? {}) };
  let priorsChanged = false;
  const remember = (m: Member): void => {
    const p = m.published;
    // A tampered entry's spec does not hash to its hash: never keep it as what that hash means.
    if (p?.spec !== undefined && p.tampered === undefined && priors[p.specHash] === undefined) {
      priors[p.specHash] = deliverable(p.spec);
      priorsChanged = true;
    }
  };
  // The base spec newcomers receive must be known before any device is updated: newcomers without an
  // entry count as unavailable, and with a tight budget they would otherwise hold every update back.
  const base = next?.base;
  if (base !== undefined && priors[base] === undefined) {
    const holder = members.find((m) => m.published?.specHash === base && m.published.spec !== undefined && m.published.tampered === undefined);
    if (holder !== undefined) remember(holder);
  }

  // Budget per group, over the online members.
  const budget = policy.budget;
  const allowance = new Map<string, number>();
  let tightest: { unavailable: number; maxUnavailable: number } | undefined;
  if (budget !== undefined) {
    const sizes = new Map<string, { n: number; up: number }>();
    for (const m of members) {
      if (m.presence !== "online") continue;
      const g = groupKey(m.device, budget.groupBy);
      const s = sizes.get(g) ?? { n: 0, up: 0 };
      s.n++;
      if (available(m, target, targetSpec)) s.up++;
      sizes.set(g, s);
    }
    for (const [g, s] of sizes) {
      const maxU = budget.maxUnavailable === undefined ? s.n : ofCount(budget.maxUnavailable, s.n);
      const minA = budget.minAvailable === undefined ? 0 : ofCount(budget.minAvailable, s.n);
      const down = s.n - s.up;
      allowance.set(g, Math.max(0, Math.min(maxU - down, s.up - minA)));
      if (tightest === undefined || maxU - down < tightest.maxUnavailable - tightest.unavailable) tightest = { unavailable: down, maxUnavailable: maxU };
    }
  }
  let heldBack = 0;
  /** Whether the budget lets `m` become unavailable now, spending it (a device already unavailable, or offline, costs nothing). */
  const allowed = (m: Member): boolean => {
    if (budget === undefined || m.presence !== "online" || !available(m, target, targetSpec)) return true;
    const g = groupKey(m.device, budget.groupBy);
    const left = allowance.get(g) ?? 0;
    if (left <= 0) {
      heldBack++;
      return false;
    }
    allowance.set(g, left - 1);
    return true;
  };

  if (outcome?._tag === "Failed") {
    if (outcome.then === "rollback")
      for (const m of members) {
        const p = m.published;
        if (p === undefined || p.specHash !== target || p.prior === undefined) continue;
        const why = `rollout of ${name} failed: ${outcome.reason}`;
        // A rollback is paced by the budget like any step: a healthy device at the target goes back when the budget allows.
        if (p.prior === null) {
          if (allowed(m))
            actions.push({ _tag: "Delete", device: m.device.id, deployment: name, previous: { specHash: p.specHash, fingerprint: p.fingerprint }, reason: { _tag: "RolledBack", why }, presence: m.presence });
        } else {
          const spec = priors[p.prior];
          if (spec === undefined) {
            problems.push(`${m.device.id}: cannot roll back ${name}: the spec it ran before (${p.prior}) is not in the rollout's ledger`);
            continue;
          }
          if (!allowed(m)) continue;
          actions.push({
            _tag: "Update",
            device: m.device.id,
            deployment: name,
            spec,
            specHash: p.prior,
            previous: { specHash: p.specHash, fingerprint: p.fingerprint },
            reason: m.resolved.by,
            presence: m.presence,
            rollback: why,
          });
        }
      }
  } else {
    // Candidates: open waves first, then by device id (members come in id order).
    const order: number[] = [];
    for (let k = 0; k < openWaves; k++) for (let i = 0; i < members.length; i++) if (wave[i] === k) order.push(i);
    for (const i of order) {
      const m = members[i] as Member;
      if (!m.towards) continue;
      if (m.presence !== "online") continue; // deferred until it returns
      if (!allowed(m)) continue;
      remember(m);
      actions.push(towardsTarget(m));
    }
    // Newcomers in waves not yet open receive the base spec.
    const baseSpec = base === undefined ? undefined : priors[base];
    for (let i = 0; i < members.length; i++) {
      const m = members[i] as Member;
      const k = wave[i] as number;
      if (k < openWaves || atTarget(m, target)) continue;
      (counts[k] as (typeof counts)[number]).waiting.push(m.device.id);
      if (m.published === undefined && m.presence === "online" && baseSpec !== undefined && base !== undefined && outcome === undefined)
        actions.push({ _tag: "Create", device: m.device.id, deployment: name, spec: baseSpec, specHash: base, reason: group.target.by, presence: m.presence });
    }
  }

  const gateOf = (k: number): GateState => {
    if (k >= openWaves) return "waiting";
    if (outcome?._tag === "Failed" && outcome.wave === k) return outcome.reason.includes("within") ? "timed out" : "failed";
    if (outcome?._tag === "Complete" || k < openWaves - 1) return "passed";
    return "open";
  };
  const waves: WaveProgress[] = counts.map((c, k) => ({
    index: k,
    definition: describeWave(policy.waves[k]),
    threshold: thresholdOf(k),
    targeted: c.targeted,
    updated: c.updated,
    succeeded: c.succeeded,
    failed: c.failed,
    pending: c.pending,
    offline: c.offline,
    gate: gateOf(k),
    ...(next?.waves[k] !== undefined ? { openedAt: (next.waves[k] as OpenedWave).openedAt } : {}),
    waiting: c.waiting,
  }));
  const state: RolloutState =
    outcome === undefined ? "Progressing" : outcome._tag === "Complete" ? "Complete" : outcome.then === "rollback" ? "RolledBack" : "Paused";

  if (next !== undefined && priorsChanged) next = { ...next, priors };
  const changed = next !== record;
  return {
    actions,
    progress: {
      deployment: name,
      target,
      state: next === undefined && !todo ? "Complete" : state,
      wave: Math.max(0, openWaves - 1),
      waves,
      ...(tightest !== undefined ? { budget: { groups: allowance.size, ...tightest, heldBack } } : {}),
      ...(outcome?._tag === "Failed" ? { failure: { wave: outcome.wave, reason: outcome.reason } } : {}),
      problems,
    },
    ledger: changed && next !== undefined && problems.length === 0 ? { _tag: "Put", record: next } : undefined,
  };
};

const opening = (now: Date, pinned: ReadonlyArray<DeviceId> | undefined): OpenedWave => (pinned === undefined ? { openedAt: now } : { openedAt: now, pinned });

export { rolloutKey };
