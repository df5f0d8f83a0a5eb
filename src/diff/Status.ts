/**
 * Status: how far reality has come towards a World, per deployment and per
 * device, from the agents' observed state. Pure, like the diff; `now` judges
 * which devices are offline.
 *
 * A device counts for a deployment when the World gives it that deployment.
 * It has `succeeded` when it reports Running for the World's spec hash,
 * `failed` when it reports Failed or Rejected (it refused the entry: a bad
 * signature, a replay, an expiry) for that hash, is `offline` when its
 * heartbeat is stale or it never registered, and `pending` otherwise
 * (including reports about an older spec).
 */
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import type { World } from "../world/World.ts";
import { DEFAULT_OFFLINE_AFTER_MS, fleetOf, presence, resolver, type DiffOptions } from "./Diff.ts";
import type { Conflict, Presence } from "./Plan.ts";
import type { Phase, Reality } from "./Reality.ts";

export interface DeploymentStatusSummary {
  readonly deployment: DeploymentName;
  readonly matched: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  readonly offline: number;
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
  readonly error?: string;
  readonly at?: Date;
}

export interface DeviceStatus {
  readonly device: DeviceId;
  readonly presence: Presence;
  readonly lastHeartbeat?: Date;
  readonly deployments: ReadonlyArray<DeviceDeploymentStatus>;
}

export interface FleetStatus {
  /** In deployment-name order. */
  readonly deployments: ReadonlyArray<DeploymentStatusSummary>;
  /** In device-id order. */
  readonly devices: ReadonlyArray<DeviceStatus>;
}

export const status = (world: World, reality: Reality, options: DiffOptions): FleetStatus => {
  const nowMs = options.now.getTime();
  const offlineAfter = options.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS;
  const conflicts: Conflict[] = [];
  const frozen = new Map<DeviceId, string>(reality.damaged);
  const fleet = fleetOf(world, reality, conflicts, frozen);
  const resolutionFor = resolver(world);

  type Acc = { matched: number; succeeded: number; failed: number; pending: number; offline: number; lastError?: DeploymentStatusSummary["lastError"] };
  const acc = new Map<DeploymentName, Acc>();
  const devices: DeviceStatus[] = [];
  for (const d of fleet.devices) {
    if (frozen.has(d.id)) continue;
    const res = resolutionFor(d);
    const p = presence(reality, d.id, nowMs, offlineAfter);
    const observed = reality.observed.get(d.id);
    const published = reality.desired.get(d.id);
    const rows: DeviceDeploymentStatus[] = [];
    for (const e of res.entries) {
      let a = acc.get(e.name);
      if (a === undefined) acc.set(e.name, (a = { matched: 0, succeeded: 0, failed: 0, pending: 0, offline: 0 }));
      a.matched++;
      const o = observed?.get(e.name);
      const pub = published?.get(e.name);
      const current = o !== undefined && o.specHash === e.specHash;
      let state: DeviceDeploymentState;
      if (current && o.phase === "Running") {
        a.succeeded++;
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
        ...(o?.error !== undefined && (state === "Failed" || state === "Rejected") ? { error: o.error } : {}),
        ...(o !== undefined ? { at: o.at } : {}),
      });
    }
    const hb = reality.devices.get(d.id)?.lastHeartbeat;
    devices.push({ device: d.id, presence: p, ...(hb !== undefined ? { lastHeartbeat: hb } : {}), deployments: rows });
  }
  const names = [...acc.keys()].sort();
  return {
    deployments: names.map((deployment) => ({ deployment, ...(acc.get(deployment) as Acc) })),
    devices,
  };
};
