/**
 * What a device agent knows: its identity, its view of its desired entries,
 * what it has reported, and the bookkeeping of the work in flight. Pure data;
 * only `step` (Step.ts) makes a new one.
 *
 * - `view` is `None` until the first follow of `desired-state` caught up: a
 *   partial view never reaches the runtime, so it never removes anything;
 * - a follow builds its snapshot in `snapshot` and replaces `view` whole when
 *   it catches up, so whatever was missed while away is corrected;
 * - `revisions` holds the highest entry revision taken per key in the
 *   current follow: an older one (a late or duplicate notification) is
 *   rejected;
 * - with a trust store (`config.trust`), `accepted` holds per key the highest
 *   signed revision and the spec accepted (the driver stores it across
 *   restarts), and `rejected` the keys whose latest entry was refused, with
 *   the reason: they are reported `Rejected` while the runtime keeps running
 *   the spec last accepted;
 * - `stored` is what `device-state` holds as far as the agent knows
 *   (acknowledged writes); `sent` is what it last asked to be written, so a
 *   write in flight is not asked for twice, and a failed one is retried.
 */
import * as O from "fp-ts/lib/Option.js";
import type { Deployment } from "../algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import type { Health, Phase } from "../diff/Reality.ts";
import type { TrustStore } from "../trust/Keys.ts";
import type { AcceptedEntry } from "./Accept.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One desired entry as the agent took it up: a spec to run, or the reason it cannot. */
export type Slot =
  | { readonly _tag: "Valid"; readonly spec: Deployment; readonly specHash: string; readonly revision: number }
  | { readonly _tag: "Invalid"; readonly reason: string; readonly revision: number };

/** One deployment's state as the agent reports it in `device-state`. */
export interface ReportedState {
  readonly phase: Phase;
  readonly specHash?: string;
  readonly error?: string;
  /** A change of health alone is news: it is reported like a change of phase. */
  readonly health?: Health;
}

export interface AgentConfig {
  readonly device: DeviceId;
  /** This run of the agent (random per process start): tells two agents of one device apart. */
  readonly instance: string;
  /** Delay before retrying a failed reconcile, report, registration or follow, ms. */
  readonly retryMs: number;
  /** Delay between a reconnect and re-registering (spreads agents sharing a connection), ms. */
  readonly rejoinDelayMs: number;
  /** Another instance not heard from for this long is no longer reported, ms. */
  readonly peerTtlMs: number;
  /** Keys whose signatures desired entries must carry; absent: entries run unsigned. */
  readonly trust?: TrustStore;
}

/** Why the latest entry of a key was refused (reported `Rejected`). */
export interface RejectedEntry {
  readonly specHash?: string;
  readonly reason: string;
}

export type FollowReason = "start" | "reconnect" | "periodic resync";

export interface AgentState {
  readonly config: AgentConfig;
  /** The follow whose events count; events of older ones are ignored. */
  readonly generation: number;
  readonly followReason: FollowReason;
  /** Entries of the current follow before it caught up (`None` once it has). */
  readonly snapshot: O.Option<ReadonlyMap<DeploymentName, Slot>>;
  readonly view: O.Option<ReadonlyMap<DeploymentName, Slot>>;
  readonly revisions: ReadonlyMap<DeploymentName, number>;
  readonly accepted: ReadonlyMap<DeploymentName, AcceptedEntry>;
  readonly rejected: ReadonlyMap<DeploymentName, RejectedEntry>;
  readonly stored: ReadonlyMap<DeploymentName, ReportedState>;
  readonly sent: ReadonlyMap<DeploymentName, ReportedState>;
  /** Writes to `device-state` not yet acknowledged. */
  readonly writes: number;
  /** Numbers the writes; `acked` is the latest acknowledged per key (an older acknowledgement arriving late changes nothing). */
  readonly writeSeq: number;
  readonly acked: ReadonlyMap<DeploymentName, number>;
  /** The reconcile pass in flight, if any (passes never overlap); `forced` if it began under `force`. */
  readonly pass: O.Option<{ readonly id: number; readonly forced: boolean }>;
  readonly passes: number;
  /** The view changed since the pass in flight started: one more pass follows. */
  readonly dirty: boolean;
  /** After a reconnect or resync: the next pass writes every state, even unchanged. */
  readonly force: boolean;
  readonly retryScheduled: boolean;
  /** Something failed since the last pass began: not ready yet. */
  readonly failedSincePass: boolean;
  readonly ready: boolean;
  readonly checking: boolean;
  readonly heartbeatFailing: boolean;
  /** Other instances seen heartbeating as this device, with when they were last seen. */
  readonly peers: ReadonlyMap<string, Date>;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** `accepted`: what a previous run accepted (with trust), as the driver stored it. */
export const initialState = (config: AgentConfig, accepted: ReadonlyMap<DeploymentName, AcceptedEntry> = new Map()): AgentState => ({
  config,
  accepted,
  rejected: new Map(),
  generation: 0,
  followReason: "start",
  snapshot: O.none,
  view: O.none,
  revisions: new Map(),
  stored: new Map(),
  sent: new Map(),
  writes: 0,
  writeSeq: 0,
  acked: new Map(),
  pass: O.none,
  passes: 0,
  dirty: false,
  force: false,
  retryScheduled: false,
  failedSincePass: false,
  ready: false,
  checking: false,
  heartbeatFailing: false,
  peers: new Map(),
});

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

export const sameReportedState = (a: ReportedState | undefined, b: ReportedState | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.phase === b.phase && a.specHash === b.specHash && a.error === b.error && a.health === b.health);
