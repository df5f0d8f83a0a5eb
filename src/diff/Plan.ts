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
  | { readonly _tag: "DeviceRemoved" };

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
}

export const isEmptyPlan = (p: Plan): boolean => p.actions.length === 0;

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
