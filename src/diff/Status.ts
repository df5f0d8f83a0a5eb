/**
 * Status: how far reality has come towards a World, per deployment and per
 * device, from the agents' observed state. Pure, like the diff; `now` judges
 * which devices are offline.
 *
 * A device counts for a deployment when the World gives it that deployment.
 * It has `succeeded` when it reports Running for the World's spec hash
 * (and, when that spec declares a health check, reports it healthy: available
 * means healthy), is `unhealthy` when it runs that spec but its health check
 * reports unhealthy, `failed` when it reports Failed or Rejected (it refused the entry: a bad
 * signature, a replay, an expiry) for that hash, is `offline` when its
 * heartbeat is stale or it never registered, and `pending` otherwise
 * (including reports about an older spec, and a declared health check still
 * `starting` or not reported at all).
 *
 * Devices the diff leaves alone (unreadable records, declared twice,
 * deployments that clash; see `Targets.ts` and `Diff.ts`) are listed too,
 * with why, and count for no deployment: status says what the diff says.
 *
 * Staged rollouts (deployments with a `Waves` policy) are reported as the
 * diff's step sees them now (`Plan.rollouts`: the wave, each wave's counts
 * and gate, the budget in use): status is the plan's view, never a second
 * reading of the policy.
 */
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { hasHealthCheck } from "../algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { OrdDeviceId } from "../algebra/Name.ts";
import type { World } from "../world/World.ts";
import { diff, planDevice, presenceAt, type DiffOptions } from "./Diff.ts";
import type { Presence, RolloutProgress } from "./Plan.ts";
import type { Health, Phase, Reality } from "./Reality.ts";
import { resolver } from "./Resolve.ts";
import { leftAloneText, targets } from "./Targets.ts";

export interface DeploymentStatusSummary {
  readonly deployment: DeploymentName;
  readonly matched: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  readonly offline: number;
  /** Running the World's spec, whose health check reports unhealthy (not counted as succeeded). */
  readonly unhealthy: number;
  readonly lastError?: { readonly device: DeviceId; readonly error: string; readonly at: Date };
}

export type DeviceDeploymentState = Phase | "Offline" | "Unpublished";

export interface DeviceDeploymentStatus {
  readonly deployment: DeploymentName;
  readonly specHash: string;
  /** The hash published in desired state, if any. */
  readonly publishedHash?: string;
  /** The hash the agent last reported about. */
  readonly observedHash?: string;
  readonly state: DeviceDeploymentState;
  /** The health the agent reports for the World's spec, when it runs it and the spec declares a check. */
  readonly health?: Health;
  readonly error?: string;
  readonly at?: Date;
}

export interface DeviceStatus {
  readonly device: DeviceId;
  readonly presence: Presence;
  readonly lastHeartbeat?: Date;
  /** Set when the diff leaves the device exactly as it is: why. Its `deployments` are then empty. */
  readonly leftAlone?: string;
  readonly deployments: ReadonlyArray<DeviceDeploymentStatus>;
}

export interface FleetStatus {
  /** In deployment-name order. */
  readonly deployments: ReadonlyArray<DeploymentStatusSummary>;
  /** In device-id order: the fleet, and every device the diff leaves alone. */
  readonly devices: ReadonlyArray<DeviceStatus>;
  /** Staged rollouts, as the next plan's step sees them (deployment order). Absent when no deployment has a `Waves` policy. */
  readonly rollouts?: ReadonlyArray<RolloutProgress>;
}

/** Whether any deployment of the World is rolled out in waves (only then is the diff run for status). */
const staged = (world: World): boolean => world.assignments.some((a) => a.deployments.some((d) => d.rollout._tag === "Waves"));

export const OrdDeviceStatus: Ord.Ord<DeviceStatus> = Ord.contramap((d: DeviceStatus) => d.device)(OrdDeviceId);

export const status = (world: World, reality: Reality, options: DiffOptions): FleetStatus => {
  const presenceOf = presenceAt(reality, options);
  const t = targets(world, reality);
  const resolutionFor = resolver(world);
  const device = (id: DeviceId, rest: Pick<DeviceStatus, "deployments"> & { readonly leftAlone?: string }): DeviceStatus => {
    const hb = reality.devices.get(id)?.lastHeartbeat;
    return { device: id, presence: presenceOf(id), ...(hb !== undefined ? { lastHeartbeat: hb } : {}), ...rest };
  };

  type Acc = { matched: number; succeeded: number; failed: number; pending: number; offline: number; unhealthy: number; lastError?: DeploymentStatusSummary["lastError"] };
  const acc = new Map<DeploymentName, Acc>();
  const devices: DeviceStatus[] = [...t.leftAlone].map(([id, l]) => device(id, { leftAlone: leftAloneText(l), deployments: [] }));
  for (const d of t.devices) {
    const res = resolutionFor(d);
    const p = presenceOf(d.id);
    const observed = reality.observed.get(d.id);
    const published = reality.desired.get(d.id);
    const step = planDevice(d.id, res, published, presenceOf);
    if (step._tag === "Clashing") {
      devices.push(device(d.id, { leftAlone: step.reason, deployments: [] }));
      continue;
    }
    const rows: DeviceDeploymentStatus[] = [];
    for (const e of res.entries) {
      let a = acc.get(e.name);
      if (a === undefined) acc.set(e.name, (a = { matched: 0, succeeded: 0, failed: 0, pending: 0, offline: 0, unhealthy: 0 }));
      a.matched++;
      const o = observed?.get(e.name);
      const pub = published?.get(e.name);
      const current = o !== undefined && o.specHash === e.specHash;
      let state: DeviceDeploymentState;
      const health = current && o.phase === "Running" ? o.health : undefined;
      if (current && o.phase === "Running") {
        // With a declared check, only a healthy report makes the device available (an agent that says nothing has not said so).
        if (health === "unhealthy") a.unhealthy++;
        else if (health !== "healthy" && hasHealthCheck(e.deployment)) a.pending++;
        else a.succeeded++;
        state = "Running";
      } else if (current && (o.phase === "Failed" || o.phase === "Rejected")) {
        a.failed++;
        state = o.phase;
        if (o.error !== undefined && (a.lastError === undefined || a.lastError.at < o.at)) a.lastError = { device: d.id, error: o.error, at: o.at };
      } else if (p !== "online") {
        a.offline++;
        state = "Offline";
      } else {
        a.pending++;
        state = pub === undefined ? "Unpublished" : "Pending";
      }
      rows.push({
        deployment: e.name,
        specHash: e.specHash,
        ...(pub !== undefined ? { publishedHash: pub.specHash } : {}),
        ...(o?.specHash !== undefined ? { observedHash: o.specHash } : {}),
        state,
        ...(health !== undefined ? { health } : {}),
        ...(o?.error !== undefined && (state === "Failed" || state === "Rejected") ? { error: o.error } : {}),
        ...(o !== undefined ? { at: o.at } : {}),
      });
    }
    devices.push(device(d.id, { deployments: rows }));
  }
  const names = [...acc.keys()].sort(S.Ord.compare);
  const rollouts = staged(world) ? (diff(world, reality, options).rollouts ?? []) : [];
  return {
    deployments: names.map((deployment) => ({ deployment, ...(acc.get(deployment) as Acc) })),
    devices: devices.sort(OrdDeviceStatus.compare),
    ...(rollouts.length > 0 ? { rollouts } : {}),
  };
};
