/**
 * Everything that can happen to a device agent, as data: what its drivers
 * (NATS today) translate I/O into. Time enters only here (`Tick.now`,
 * `PeerSeen.at`); the step reads no clock.
 *
 * Events that answer an effect carry what identifies it (`generation` of a
 * follow, `pass` of a reconcile, the state written), so late answers to
 * superseded work are recognised and ignored.
 */
import type { Deployment } from "../algebra/Deployment.ts";
import type { DeploymentName } from "../algebra/Name.ts";
import type { Health, Phase } from "../diff/Reality.ts";
import type { Either } from "fp-ts/lib/Either.js";
import type { EntrySignature } from "../trust/SignedEntry.ts";
import type { ReportedState } from "./State.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A desired entry as the driver read it; decoding is the driver's, accepting it the step's (Accept.ts). */
export type DesiredInput =
  | { readonly _tag: "Put"; readonly deployment: DeploymentName; readonly revision: number; readonly value: DecodedDesired }
  | { readonly _tag: "Deleted"; readonly deployment: DeploymentName; readonly revision: number }
  /** A key under this device's prefix that names no deployment of it. */
  | { readonly _tag: "ForeignKey"; readonly key: string; readonly reason: string };

export type DecodedDesired =
  | {
      readonly _tag: "Decoded";
      readonly spec: Deployment;
      /** The hash the value states; `actualSpecHash` the one its spec has (absent: the same). */
      readonly specHash: string;
      readonly actualSpecHash?: string;
      /** Absent: unsigned; `Left`: a signature field that is not one (why). */
      readonly signature?: Either<string, EntrySignature>;
    }
  | { readonly _tag: "Undecodable"; readonly reason: string };

/** What the runtime says of one deployment (`Runtime.reconcile`/`status`). */
export interface RuntimeStatus {
  readonly deployment: DeploymentName;
  readonly phase: Phase;
  readonly specHash: string;
  readonly error?: string;
  readonly health?: Health;
}

export type AgentEvent =
  | { readonly _tag: "Started" }
  /** The deployments `device-state` holds from a previous run; `error` if it could not be read. */
  | { readonly _tag: "PreviousStates"; readonly deployments: ReadonlyArray<DeploymentName>; readonly error?: string }
  /** `now`: when it was read (signed entries expire). */
  | { readonly _tag: "EntrySeen"; readonly generation: number; readonly input: DesiredInput; readonly now: Date }
  | { readonly _tag: "CaughtUp"; readonly generation: number }
  | { readonly _tag: "FollowFailed"; readonly generation: number; readonly error: string }
  | { readonly _tag: "Registered" }
  | { readonly _tag: "RegisterFailed"; readonly error: string }
  | { readonly _tag: "HeartbeatSent" }
  | { readonly _tag: "HeartbeatFailed"; readonly error: string }
  | { readonly _tag: "Reported"; readonly deployment: DeploymentName; readonly state: ReportedState; readonly seq: number }
  | { readonly _tag: "ReportFailed"; readonly deployment: DeploymentName; readonly state: ReportedState; readonly error: string }
  | { readonly _tag: "Cleared"; readonly deployment: DeploymentName; readonly seq: number }
  | { readonly _tag: "ClearFailed"; readonly deployment: DeploymentName; readonly error: string }
  | { readonly _tag: "Reconciled"; readonly pass: number; readonly statuses: ReadonlyArray<RuntimeStatus> }
  | { readonly _tag: "ReconcileFailed"; readonly pass: number; readonly error: string }
  | { readonly _tag: "RuntimeChecked"; readonly statuses: ReadonlyArray<RuntimeStatus> }
  | { readonly _tag: "RuntimeCheckFailed"; readonly error: string }
  /** The accepted revisions (Effect `PersistAccepted`) could not be written. */
  | { readonly _tag: "PersistFailed"; readonly error: string }
  /** The heartbeat interval elapsed. */
  | { readonly _tag: "Tick"; readonly now: Date }
  | { readonly _tag: "ResyncDue" }
  | { readonly _tag: "Reconnected" }
  /** Some time after a reconnect: register and re-read. */
  | { readonly _tag: "Rejoin" }
  | { readonly _tag: "RetryDue"; readonly job: RetryJob }
  /** A heartbeat for this device id was seen, from the given instance. */
  | { readonly _tag: "PeerSeen"; readonly instance: string; readonly at: Date };

export type RetryJob = "Register" | "ReadPreviousStates" | "Follow" | "Reconcile";

export type AgentEventTag = AgentEvent["_tag"];
type Case<T extends AgentEventTag> = Extract<AgentEvent, { readonly _tag: T }>;

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

export const matchEvent =
  <R>(cases: { readonly [T in AgentEventTag]: (e: Case<T>) => R }) =>
  (e: AgentEvent): R =>
    (cases[e._tag] as (e: AgentEvent) => R)(e);
