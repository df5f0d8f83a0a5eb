/**
 * The one interface every backend implements (memory, local state directory,
 * NATS JetStream KV, Kubernetes, podman). The CLI and the conformance suite
 * take an `Interpreter` as a value; nothing looks backends up by name below
 * the CLI.
 *
 * Contract (test/laws/conformance.ts runs it against each implementation):
 * - `read` never throws for bad data: undecodable records become `problems`
 *   and their devices land in `reality.damaged`;
 * - `apply` refuses a stale plan as a whole (`Stale`) before writing anything,
 *   writes each entry compare-and-set, and reports every action's outcome;
 * - a failed write fails that action only; the others still run.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import type { Action, Plan } from "../diff/Plan.ts";
import type { Reality } from "../diff/Reality.ts";
import type { StaleEntry } from "../diff/Apply.ts";
import type { World } from "../world/World.ts";
import type { SignEntries } from "../trust/Signer.ts";

export interface ReadProblem {
  /** Where the record lives: a bucket, a resource kind, a file. */
  readonly source: string;
  readonly key: string;
  readonly message: string;
  /** Absent: the record could not be read and was skipped. `DuplicateAgent`: it was read, and shows two agents running as one device. */
  readonly kind?: "DuplicateAgent";
}

/** By source, then key. */
export const OrdReadProblem: Ord.Ord<ReadProblem> = concatAll(Ord.getMonoid<ReadProblem>())([
  Ord.contramap((p: ReadProblem) => p.source)(S.Ord),
  Ord.contramap((p: ReadProblem) => p.key)(S.Ord),
]);

/** By key alone, for one source's problems. */
export const OrdReadProblemByKey: Ord.Ord<ReadProblem> = Ord.contramap((p: ReadProblem) => p.key)(S.Ord);

export interface ReadResult {
  readonly reality: Reality;
  readonly problems: ReadonlyArray<ReadProblem>;
}

export type ActionOutcome =
  | { readonly _tag: "Applied"; readonly action: Action; readonly fingerprint?: string }
  | { readonly _tag: "Failed"; readonly action: Action; readonly error: string };

export interface Progress {
  readonly done: number;
  readonly total: number;
  readonly failed: number;
}

export interface ApplyOptions {
  /** Called as actions complete (not necessarily after each one). */
  readonly onProgress?: (p: Progress) => void;
  /** Signs the entries Creates and Updates write (docs/security.md); only NATS carries signatures today. */
  readonly sign?: SignEntries;
}

export type ApplyResult =
  | { readonly _tag: "Completed"; readonly outcomes: ReadonlyArray<ActionOutcome> }
  /** Nothing was written: entries changed since the plan was made. */
  | { readonly _tag: "Stale"; readonly stale: ReadonlyArray<StaleEntry> }
  /** Nothing was written: another apply holds the lock. */
  | { readonly _tag: "Locked"; readonly holder: string; readonly until?: Date };

/** Who holds a lock being waited for: `owner` names the process, `text` says it for people (with the lock ID that breaks it). */
export interface LockWait {
  readonly owner: string;
  readonly text: string;
}

export interface ExclusiveOptions {
  /** Told who holds the lock while waiting for it, once per holder within one wait. */
  readonly onWait: (holder: LockWait) => void;
  /** Stops waiting for the lock when it settles (a signal). */
  readonly stop: Promise<unknown>;
}

export interface Interpreter {
  readonly name: string;
  read(): Promise<ReadResult>;
  /**
   * Writes the plan's actions and its rollout ledger records (`Plan.ledger`;
   * a backend that keeps no ledger refuses a plan that has any).
   */
  apply(plan: Pick<Plan, "actions" | "ledger">, options?: ApplyOptions): Promise<ApplyResult>;
  /**
   * Optional: publishes the World itself where the backend shows it to people
   * (Kubernetes: one FleetDeployment per deployment, with status). The CLI
   * calls it after an apply whenever it has the World. Returns problems, one
   * line each; never throws for a single object.
   */
  publishWorld?(world: World, now: Date): Promise<ReadonlyArray<string>>;
  /**
   * Optional: runs `f` holding the backend's apply lock, so that a read, a
   * plan and an apply made inside it act as one step no other writer can
   * interleave with (`fleet reconcile`). Applies made inside `f` reuse the
   * held lock. A lock held elsewhere is waited for as long as it takes,
   * telling `onWait` each new holder; `undefined` when `stop` settles
   * first (nothing ran). The lock is released when `f` settles, and by a
   * signal meanwhile.
   */
  exclusive?<A>(f: () => Promise<A>, options: ExclusiveOptions): Promise<A | undefined>;
  close(): Promise<void>;
}

export const countOutcomes = (outcomes: ReadonlyArray<ActionOutcome>): { readonly applied: number; readonly failed: number } => {
  let failed = 0;
  for (const o of outcomes) if (o._tag === "Failed") failed++;
  return { applied: outcomes.length - failed, failed };
};

/** Errors at the I/O edge that the CLI turns into one clear line and exit code 1. */
export class BackendUnavailableError extends Error {
  override readonly name = "BackendUnavailableError";
}
