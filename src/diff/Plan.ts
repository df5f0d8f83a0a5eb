/**
 * Plans: what `diff` says must be done, as data.
 *
 * An action concerns one desired-state entry `(device, deployment)`. Actions
 * carry what they expect to find (absence for a create, the fingerprint for
 * an update or delete) so that any interpreter can compare-and-set and refuse
 * a stale plan.
 */
import * as N from "fp-ts/lib/number.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import type { Deployment } from "../algebra/Deployment.ts";
import type { Device } from "../algebra/Device.ts";
import { OrdDeploymentName, OrdDeviceId, type DeploymentName, type DeviceId } from "../algebra/Name.ts";
import type { HostPortClash, MountClash } from "./Clash.ts";
import type { LedgerWrite } from "./Ledger.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Whether the device could act on the change now (from its last heartbeat and `now`). */
export type Presence = "online" | "offline" | "unregistered";

export interface AssignedBy {
  /** The winning assignment's name. */
  readonly assignment: string;
  readonly selector: string;
  readonly priority: number;
}

export type DeleteReason =
  | { readonly _tag: "Unassigned" }
  | { readonly _tag: "DeviceRemoved" }
  /** A staged rollout failed and returns the device to having no entry, as before it (why). */
  | { readonly _tag: "RolledBack"; readonly why: string };

export interface Previous {
  readonly specHash: string;
  readonly fingerprint: string;
}

export type Action =
  | {
      readonly _tag: "Create";
      readonly device: DeviceId;
      readonly deployment: DeploymentName;
      readonly spec: Deployment;
      readonly specHash: string;
      readonly reason: AssignedBy;
      readonly presence: Presence;
      /** Written by a staged rollout: `null`, there was no entry before. */
      readonly prior?: string | null;
    }
  | {
      readonly _tag: "Update";
      readonly device: DeviceId;
      readonly deployment: DeploymentName;
      readonly spec: Deployment;
      readonly specHash: string;
      readonly previous: Previous;
      readonly reason: AssignedBy;
      readonly presence: Presence;
      /** Set when the published entry is republished because it cannot be trusted (why). */
      readonly repair?: string;
      /** Set when a staged rollout returns the device to the spec it ran before (why). */
      readonly rollback?: string;
      /** Written by a staged rollout: the spec hash the entry held before (Reality's `DesiredEntry.prior`). */
      readonly prior?: string | null;
    }
  | {
      readonly _tag: "Delete";
      readonly device: DeviceId;
      readonly deployment: DeploymentName;
      readonly previous: Previous;
      readonly reason: DeleteReason;
      readonly presence: Presence;
    };

export type ActionTag = Action["_tag"];

export const matchAction =
  <R>(cases: { readonly [T in ActionTag]: (a: Extract<Action, { _tag: T }>) => R }) =>
  (a: Action): R =>
    (cases[a._tag] as (a: Action) => R)(a);

export interface Candidate {
  readonly assignment: string;
  readonly specHash: string;
}

export type Conflict =
  | {
      /** Assignments of equal, highest priority give one device different specs under one name. */
      readonly _tag: "DeploymentConflict";
      readonly device: DeviceId;
      readonly deployment: DeploymentName;
      readonly priority: number;
      readonly candidates: ReadonlyArray<Candidate>;
    }
  | {
      /** One device declared twice with different labels, arch or facts. */
      readonly _tag: "DeviceConflict";
      readonly device: DeviceId;
      readonly declarations: ReadonlyArray<Device>;
    }
  | ({
      /** The device's deployments bind one host port twice: it could not start them all. */
      readonly _tag: "HostPortConflict";
      readonly device: DeviceId;
    } & HostPortClash)
  | ({
      /** One service of the device's deployments mounts two volumes at one container path. */
      readonly _tag: "MountConflict";
      readonly device: DeviceId;
    } & MountClash);

export type ConflictTag = Conflict["_tag"];

export const matchConflict =
  <R>(cases: { readonly [T in ConflictTag]: (c: Extract<Conflict, { _tag: T }>) => R }) =>
  (c: Conflict): R =>
    (cases[c._tag] as (c: Conflict) => R)(c);

export interface Skipped {
  readonly device: DeviceId;
  readonly reason: string;
}

export interface Summary {
  readonly create: number;
  readonly update: number;
  readonly delete: number;
  /** Entries already as desired. */
  readonly unchanged: number;
  /** Devices the diff evaluated. */
  readonly devices: number;
  /** Actions whose device is offline or never registered: they apply when it (re)connects. */
  readonly notOnline: number;
  readonly conflicts: number;
  readonly skipped: number;
}

export interface Plan {
  /** In canonical order: by device id, then deployment name (code units). */
  readonly actions: ReadonlyArray<Action>;
  /** Keys in conflict get no action: the published entry is left as it is. */
  readonly conflicts: ReadonlyArray<Conflict>;
  /** Devices left alone because their records could not be read, or because they are in conflict. */
  readonly skipped: ReadonlyArray<Skipped>;
  readonly summary: Summary;
  /** Staged rollouts (deployments with a `Waves` policy): where each stands and what waits. Absent when there are none. */
  readonly rollouts?: ReadonlyArray<RolloutProgress>;
  /** Rollout ledger records to write with the actions (diff/Ledger.ts). Absent when there are none. */
  readonly ledger?: ReadonlyArray<LedgerWrite>;
}

/** Nothing to write: no action and no ledger record. */
export const isEmptyPlan = (p: Pick<Plan, "actions" | "ledger">): boolean => p.actions.length === 0 && (p.ledger === undefined || p.ledger.length === 0);

// -------------------------------------------------------------------------------------
// rollouts
// -------------------------------------------------------------------------------------

/**
 * A wave's gate: `open` (its devices may be updated; it has not yet reached
 * its threshold), `waiting` (an earlier wave has not passed), `passed`,
 * `failed` (its threshold can no longer be reached), `timed out`.
 */
export type GateState = "open" | "waiting" | "passed" | "failed" | "timed out";

export interface WaveProgress {
  readonly index: number;
  /** How the policy defines it (`site=lab, 5 devices`, `10 %`, `the rest`). */
  readonly definition: string;
  /** Percent of its reachable devices that must succeed. */
  readonly threshold: number;
  readonly targeted: number;
  /** Published at the target spec. */
  readonly updated: number;
  /** Running the target spec (healthy where a check is declared). */
  readonly succeeded: number;
  /** Failed, rejected or unhealthy at the target spec. */
  readonly failed: number;
  /** Not yet at the target spec. */
  readonly pending: number;
  /** Offline: skipped now, updated when they return (after the wave opened). */
  readonly offline: number;
  readonly gate: GateState;
  readonly openedAt?: Date;
  /** The devices of a wave not yet open, not yet at the target: the schedule ahead. */
  readonly waiting: ReadonlyArray<DeviceId>;
}

/** A wave's device counts alone, as every view of a rollout shows them. */
export const waveCounts = (w: WaveProgress): Pick<WaveProgress, "targeted" | "updated" | "succeeded" | "failed" | "pending" | "offline"> => ({
  targeted: w.targeted,
  updated: w.updated,
  succeeded: w.succeeded,
  failed: w.failed,
  pending: w.pending,
  offline: w.offline,
});

export type RolloutState = "Progressing" | "Paused" | "RolledBack" | "Complete";

export interface RolloutProgress {
  readonly deployment: DeploymentName;
  /** The spec hash being rolled out. */
  readonly target: string;
  readonly state: RolloutState;
  /** The last open wave. */
  readonly wave: number;
  readonly waves: ReadonlyArray<WaveProgress>;
  /** The disruption budget in the tightest group: devices unavailable now, and the most allowed (absent: no budget). */
  readonly budget?: { readonly groups: number; readonly unavailable: number; readonly maxUnavailable: number; readonly heldBack: number };
  /** Why the rollout stopped (`Paused`, `RolledBack`). */
  readonly failure?: { readonly wave: number; readonly reason: string };
  /** Policy errors found against the targeted devices (a wave that selects nothing); a plan with any must not be applied. */
  readonly problems: ReadonlyArray<string>;
}

export const OrdRolloutProgress: Ord.Ord<RolloutProgress> = concatAll(Ord.getMonoid<RolloutProgress>())([
  Ord.contramap((r: RolloutProgress) => r.deployment)(OrdDeploymentName),
  Ord.contramap((r: RolloutProgress) => r.target)(S.Ord),
]);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

/** Canonical order of actions: by device, then deployment (one action per key, so total). */
export const OrdAction: Ord.Ord<Action> = concatAll(Ord.getMonoid<Action>())([
  Ord.contramap((a: Action) => a.device)(OrdDeviceId),
  Ord.contramap((a: Action) => a.deployment)(OrdDeploymentName),
]);

/** `OrdAction.compare`, under its older name. */
export const compareActions: (a: Action, b: Action) => number = OrdAction.compare;

const conflictRank: { readonly [T in ConflictTag]: number } = { DeviceConflict: 0, DeploymentConflict: 1, HostPortConflict: 2, MountConflict: 3 };

/** What tells two conflicts of one kind on one device apart. */
const conflictDetail = matchConflict<string>({
  DeviceConflict: () => "",
  DeploymentConflict: (c) => c.deployment,
  HostPortConflict: (c) => `${c.protocol}/${String(c.hostPort).padStart(5, "0")}`,
  MountConflict: (c) => `${c.deployment}/${c.service}/${c.target}`,
});

/** By device, then kind (declarations first), then what the conflict is about. */
export const OrdConflict: Ord.Ord<Conflict> = concatAll(Ord.getMonoid<Conflict>())([
  Ord.contramap((c: Conflict) => c.device)(OrdDeviceId),
  Ord.contramap((c: Conflict) => conflictRank[c._tag])(N.Ord),
  Ord.contramap(conflictDetail)(S.Ord),
]);

export const OrdCandidate: Ord.Ord<Candidate> = concatAll(Ord.getMonoid<Candidate>())([
  Ord.contramap((c: Candidate) => c.assignment)(S.Ord),
  Ord.contramap((c: Candidate) => c.specHash)(S.Ord),
]);

export const OrdSkipped: Ord.Ord<Skipped> = Ord.contramap((s: Skipped) => s.device)(OrdDeviceId);

export const summarise = (
  actions: ReadonlyArray<Action>,
  rest: Pick<Summary, "unchanged" | "devices"> & { readonly conflicts: number; readonly skipped: number },
): Summary => {
  let create = 0;
  let update = 0;
  let del = 0;
  let notOnline = 0;
  for (const a of actions) {
    if (a._tag === "Create") create++;
    else if (a._tag === "Update") update++;
    else del++;
    if (a.presence !== "online") notOnline++;
  }
  return { create, update, delete: del, notOnline, ...rest };
};
