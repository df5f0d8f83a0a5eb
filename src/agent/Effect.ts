/**
 * What a device agent asks its driver to do, as data. Each effect that does
 * I/O is answered by an event (Event.ts): `Report` by `Reported` or
 * `ReportFailed`, `Reconcile` by `Reconciled` or `ReconcileFailed`, and so
 * on; `Later` delivers its event after a delay. Drivers perform effects in
 * the order given (writes to one key stay in order) and decide nothing.
 */
import type { Deployment } from "../algebra/Deployment.ts";
import type { DeploymentName } from "../algebra/Name.ts";
import type { AcceptedEntry } from "./Accept.ts";
import type { AgentEvent } from "./Event.ts";
import type { FollowReason, ReportedState } from "./State.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type AgentEffect =
  /** Write `device-info` (with this run's instance id). */
  | { readonly _tag: "Register" }
  /** Write `device-heartbeat`, naming the other instances seen as this device. */
  | { readonly _tag: "Heartbeat"; readonly others: ReadonlyArray<string> }
  | { readonly _tag: "ReadPreviousStates" }
  /**
   * Replace the follow of `desired-state <device>.>` with a fresh one (snapshot, then changes). `expected`:
   * the deployments it runs or has reported, read on their own when the snapshot lacks them (a snapshot
   * that came back short must not stop them).
   */
  | { readonly _tag: "Follow"; readonly generation: number; readonly reason: FollowReason; readonly expected: ReadonlyArray<DeploymentName> }
  /** `seq` numbers the writes of a run, so acknowledgements that arrive out of order are told apart. */
  | { readonly _tag: "Report"; readonly deployment: DeploymentName; readonly state: ReportedState; readonly seq: number }
  | { readonly _tag: "Clear"; readonly deployment: DeploymentName; readonly seq: number }
  /** Make the runtime run exactly `desired`. */
  | { readonly _tag: "Reconcile"; readonly pass: number; readonly desired: ReadonlyArray<Deployment> }
  | { readonly _tag: "CheckRuntime" }
  | { readonly _tag: "Later"; readonly ms: number; readonly event: AgentEvent }
  | { readonly _tag: "Log"; readonly line: string }
  /**
   * Store what was accepted per key (with trust) where the next run finds it, before the
   * runtime is given it: a replay after a restart is still refused. Failure: `PersistFailed`.
   */
  | { readonly _tag: "PersistAccepted"; readonly accepted: ReadonlyMap<DeploymentName, AcceptedEntry> }
  /** The first complete reconcile is done (once per run). */
  | { readonly _tag: "Ready" };

export type AgentEffectTag = AgentEffect["_tag"];
type Case<T extends AgentEffectTag> = Extract<AgentEffect, { readonly _tag: T }>;

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

export const matchEffect =
  <R>(cases: { readonly [T in AgentEffectTag]: (e: Case<T>) => R }) =>
  (e: AgentEffect): R =>
    (cases[e._tag] as (e: AgentEffect) => R)(e);
