/**
 * The apply use case, minus rendering: refuse a World with conflicts, ask
 * for confirmation (a callback; none means approved), apply through the
 * interpreter, then publish the World where the backend shows it.
 *
 * What `fleet apply` does after planning, as a library function: the CLI
 * renders the plan, passes its confirmation prompt and progress display in,
 * and renders the result. Every way it ends is a tagged value; nothing here
 * prints, exits or asks a terminal.
 */
import { isEmptyPlan, type Conflict, type Plan } from "../diff/Plan.ts";
import type { StaleEntry } from "../diff/Apply.ts";
import type { ActionOutcome, ApplyOptions, Interpreter, Progress } from "../interpreters/Interpreter.ts";
import type { Planned } from "./Plan.ts";
import { contentHash } from "../algebra/Canonical.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";

export interface ApplyCounts {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  readonly failed: number;
}

export type ApplyReport =
  /** Refused before anything was written: the World has conflicts. */
  | { readonly _tag: "Conflicts"; readonly conflicts: ReadonlyArray<Conflict> }
  /** Refused before anything was written: a staged rollout's policy does not fit the devices it targets (one line each, naming the deployment). */
  | { readonly _tag: "RolloutProblems"; readonly problems: ReadonlyArray<string> }
  /** The confirmation said no; nothing was written. */
  | { readonly _tag: "Cancelled" }
  /** Nothing was written: entries changed since the plan was made. */
  | { readonly _tag: "Stale"; readonly stale: ReadonlyArray<StaleEntry> }
  /** Nothing was written: another apply holds the lock. */
  | { readonly _tag: "Locked"; readonly holder: string; readonly until?: Date }
  /** Every action's outcome (failures do not hide successes), and problems publishing the World. */
  | { readonly _tag: "Completed"; readonly outcomes: ReadonlyArray<ActionOutcome>; readonly counts: ApplyCounts; readonly publishProblems: ReadonlyArray<string> };

export interface ProgramApplyOptions {
  /** Asked once, only when there is something to do; absent means approved. */
  readonly confirm?: (plan: Plan) => Promise<boolean>;
  readonly onProgress?: (p: Progress) => void;
  /** When the World is published (backends that show it); default: the time of publishing. */
  readonly clock?: () => Date;
  /**
   * Sign what is written (docs/security.md): builds the interpreter's signer from what only the
   * plan knows (the CLI passes one over its signing key: `entrySigner` in src/trust/Signer.ts).
   */
  readonly signer?: (context: SigningContext) => ApplySigner;
}

type ApplySigner = NonNullable<ApplyOptions["sign"]>;

/** What an apply's signatures depend on besides the key. */
export interface SigningContext {
  /** Issued-at of the signatures, and the least revision they carry. */
  readonly now: Date;
  /** The id of the plan (`planId`). */
  readonly plan: string;
  /** The signed revision an entry had when the plan read it. */
  readonly previous: (device: DeviceId, deployment: DeploymentName) => number | undefined;
}

/** The id a signed entry names its plan by: the World and the Reality the plan was made from. */
export const planId = (planned: Pick<Planned, "worldHash" | "realityDigest">): string => contentHash({ world: planned.worldHash, reality: planned.realityDigest });

const signingContext = (planned: Pick<Planned, "reality" | "worldHash" | "realityDigest">, now: Date): SigningContext => ({
  now,
  plan: planId(planned),
  previous: (device, deployment) => planned.reality.desired.get(device)?.get(deployment)?.revision,
});

export const countApplied = (outcomes: ReadonlyArray<ActionOutcome>): ApplyCounts => {
  let created = 0;
  let updated = 0;
  let deleted = 0;
  let failed = 0;
  for (const o of outcomes) {
    if (o._tag === "Failed") failed++;
    else if (o.action._tag === "Create") created++;
    else if (o.action._tag === "Update") updated++;
    else deleted++;
  }
  return { created, updated, deleted, failed };
};

/** The problems of a plan's staged rollouts, one line each (`web: waves[1] selects no device`). */
export const rolloutProblemsOf = (plan: Pick<Plan, "rollouts">): ReadonlyArray<string> =>
  (plan.rollouts ?? []).flatMap((r) => r.problems.map((p) => `${r.deployment}: ${p}`));

/** Applies a plan made by `plan` (or bound by `bindSavedPlan`); see the module header. */
export const apply = async (
  interpreter: Interpreter,
  planned: Pick<Planned, "plan" | "world" | "reality" | "worldHash" | "realityDigest">,
  options: ProgramApplyOptions = {}): Promise<ApplyReport> => {
  const { plan, world } = planned;
  if (plan.conflicts.length > 0) return { _tag: "Conflicts", conflicts: plan.conflicts };
  const rolloutProblems = rolloutProblemsOf(plan);
  if (rolloutProblems.length > 0) return { _tag: "RolloutProblems", problems: rolloutProblems };
  const clock = options.clock ?? (() => new Date());
  const publish = async (): Promise<ReadonlyArray<string>> => (interpreter.publishWorld === undefined ? [] : interpreter.publishWorld(world, clock()));
  if (isEmptyPlan(plan)) return { _tag: "Completed", outcomes: [], counts: countApplied([]), publishProblems: await publish() };
  if (options.confirm !== undefined && !(await options.confirm(plan))) return { _tag: "Cancelled" };
  // The whole plan: its actions and its rollout ledger records.
  const result = await interpreter.apply(plan, {
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
    ...(options.signer !== undefined ? { sign: options.signer(signingContext(planned, clock())) } : {}),
  });
  switch (result._tag) {
    case "Stale":
      return { _tag: "Stale", stale: result.stale };
    case "Locked":
      return { _tag: "Locked", holder: result.holder, ...(result.until !== undefined ? { until: result.until } : {}) };
    case "Completed":
      return { _tag: "Completed", outcomes: result.outcomes, counts: countApplied(result.outcomes), publishProblems: await publish() };
  }
};
