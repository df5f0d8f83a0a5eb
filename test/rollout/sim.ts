/**
 * A pure rollout driver for the laws: plan → apply (reference semantics) →
 * every online agent reports what its entries hold, in rounds, with a clock.
 * Which (device, spec) pairs fail, and which devices are offline in a round,
 * are inputs.
 */
import { diff } from "../../src/diff/Diff.ts";
import { applyPlan } from "../../src/diff/Apply.ts";
import type { Plan } from "../../src/diff/Plan.ts";
import type { ObservedState, Reality, ReportedDevice } from "../../src/diff/Reality.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import type { World } from "../../src/world/World.ts";

export interface Agents {
  /** Whether the device fails to run this spec (reports Failed). */
  readonly fails?: (device: DeviceId, specHash: string) => boolean;
  /** Whether the device is offline in this round. */
  readonly offline?: (device: DeviceId, round: number) => boolean;
}

export const ROUND_MS = 10_000;

/** Heartbeats for online devices and reports of what every online device's entries hold. */
export const agentsAct = (r: Reality, now: Date, round: number, agents: Agents): Reality => {
  const devices = new Map<DeviceId, ReportedDevice>();
  for (const [id, rd] of r.devices) devices.set(id, agents.offline?.(id, round) === true ? rd : { ...rd, lastHeartbeat: now });
  const observed = new Map<DeviceId, Map<DeploymentName, ObservedState>>();
  for (const [id, old] of r.observed) observed.set(id, new Map(old));
  for (const [id, entries] of r.desired) {
    if (agents.offline?.(id, round) === true || !r.devices.has(id)) continue;
    const m = new Map<DeploymentName, ObservedState>();
    for (const [name, e] of entries) {
      const failed = agents.fails?.(id, e.specHash) === true;
      m.set(name, { device: id, deployment: name, phase: failed ? "Failed" : "Running", specHash: e.specHash, at: now, ...(failed ? { error: "exit 1" } : {}) });
    }
    observed.set(id, m);
  }
  return { ...r, devices, observed };
};

export interface Round {
  readonly round: number;
  readonly now: Date;
  /** Reality the plan was made from (after the agents' reports). */
  readonly before: Reality;
  readonly plan: Plan;
  readonly after: Reality;
}

export interface RunOptions {
  /** The time of round 0. */
  readonly start?: Date;
  /** The first round's number (to continue a run). */
  readonly first?: number;
  /** Passed to `diff`. */
  readonly offlineAfterMs?: number;
  /** The agents of each round, when they change from round to round. */
  readonly agentsIn?: (round: number) => Agents;
}

/** Runs `rounds` rounds of report → plan → apply, starting at `start`; returns each round. */
export const run = (world: World, initial: Reality, rounds: number, agents: Agents = {}, options: RunOptions = {}): ReadonlyArray<Round> => {
  const out: Round[] = [];
  const start = options.start ?? new Date("2026-01-01T00:00:00Z");
  const first = options.first ?? 0;
  let r = initial;
  for (let i = first; i < first + rounds; i++) {
    const now = new Date(start.getTime() + i * ROUND_MS);
    const before = agentsAct(r, now, i, options.agentsIn?.(i) ?? agents);
    const plan = diff(world, before, { now, ...(options.offlineAfterMs !== undefined ? { offlineAfterMs: options.offlineAfterMs } : {}) });
    const after = applyPlan(before, plan);
    out.push({ round: i, now, before, plan, after });
    r = after;
  }
  return out;
};
