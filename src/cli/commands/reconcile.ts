/**
 * `fleet reconcile FILE… --backend … --interval 10s [--watch]`: the
 * controller loop. Each step plans (program layer) and applies the step the
 * plan allows (staged rollouts: diff/Rollout.ts), prints where every rollout
 * stands, then waits `--interval`; until the World is reached (exit 0), or a
 * rollout aborts (Paused or RolledBack, after applying the rollback: exit 1).
 * `--watch` never stops on convergence (continuous drift correction).
 *
 * The loop is a thin driver over `plan` and `apply`; what a step means is
 * `stepVerdict` (pure). On a backend with `exclusive` (NATS) a step holds the
 * apply lock from its read to its last write, so two controllers never act
 * at once: the second waits, saying once who holds the lock. Stale plans
 * (another writer moved meanwhile) and a held lock are not errors: the next
 * step re-plans. SIGTERM and SIGINT stop
 * it between steps: an apply in flight completes and releases its lock.
 */
import { isEmptyPlan, type Plan, type RolloutProgress } from "../../diff/Plan.ts";
import type { LockWait } from "../../interpreters/Interpreter.ts";
import { apply, rolloutProblemsOf, type ApplyReport } from "../../program/Apply.ts";
import { plan } from "../../program/Plan.ts";
import { expectPositionals, orUsage, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendHelp } from "../backends.ts";
import { CliError, UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { fleetFilesWorld } from "../FleetSource.ts";
import { checkTypes, loadTimeoutHelp, loadTimeoutOf, reportProblems, withBackend } from "../Inputs.ts";
import * as J from "../JsonLines.ts";
import { offlineAfterOf, planFlags } from "../PlanFlags.ts";
import { terminal } from "../Terminal.ts";
import { untilSignal } from "./agent.ts";

export const help = `Usage: fleet reconcile [flags] FILE…

Re-plans and applies the step the World allows, every --interval, until the
World is reached: staged rollouts advance wave by wave as their gates pass.
Prints each step's progress per deployment and wave.

Flags:
  --interval DURATION           time between steps (default 10s)
  --watch                       keep reconciling after convergence (drift correction); never exits on its own
  --json                        one JSON line per step instead of text
  --no-typecheck                do not type-check the fleet files first (faster)
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
${loadTimeoutHelp}
  -h, --help                    show this help

${backendHelp}

On NATS each step holds the apply lock from its read to its last write: a
second reconcile waits for it, saying who holds it.

Stops cleanly on SIGTERM or SIGINT, between steps (or while waiting for the lock).

Exit codes: 0 converged (nothing to apply, every rollout complete) or stopped by a signal,
1 a rollout aborted (paused, or rolled back once the rollback is applied) or an error, 2 usage error.`;

export type StepVerdict = "converged" | "progressing" | "aborted";

/** What a plan says of the loop: done, keep going, or stop for an operator. */
export const stepVerdict = (p: Pick<Plan, "actions" | "ledger" | "rollouts">): StepVerdict => {
  const rollouts = p.rollouts ?? [];
  if (rollouts.some((r) => r.state === "Paused" || r.state === "RolledBack")) return "aborted";
  return isEmptyPlan(p) && rollouts.every((r) => r.state === "Complete") ? "converged" : "progressing";
};

const sum = (r: RolloutProgress, f: (w: RolloutProgress["waves"][number]) => number): number => r.waves.reduce((n, w) => n + f(w), 0);

/** `web: wave 2/4 open — 37/100 updated, 35 succeeded, 1 failed; budget 3/5`. */
export const rolloutLine = (r: RolloutProgress): string => {
  const wave = r.waves[r.wave];
  const head = `${r.deployment}: ${r.state === "Complete" ? "complete" : `wave ${r.wave + 1}/${r.waves.length} ${wave?.gate ?? "?"}`}`;
  const counts = `${sum(r, (w) => w.updated)}/${sum(r, (w) => w.targeted)} updated, ${sum(r, (w) => w.succeeded)} succeeded, ${sum(r, (w) => w.failed)} failed`;
  const offline = sum(r, (w) => w.offline);
  const budget = r.budget === undefined ? "" : `; budget ${r.budget.unavailable}/${r.budget.maxUnavailable}`;
  const stopped = r.failure === undefined ? "" : ` (${r.state === "RolledBack" ? "rolled back" : "paused"}: wave ${r.failure.wave + 1}: ${r.failure.reason})`;
  return `${head} — ${counts}${offline > 0 ? `, ${offline} offline` : ""}${budget}${stopped}`;
};

const appliedText = (r: ApplyReport | undefined): string => {
  if (r === undefined) return "nothing to apply";
  switch (r._tag) {
    case "Completed":
      return `applied ${r.counts.created} created, ${r.counts.updated} updated, ${r.counts.deleted} deleted${r.counts.failed > 0 ? `, ${r.counts.failed} failed` : ""}`;
    case "Stale":
      return `plan stale (${r.stale.length} entries changed meanwhile); re-planning next step`;
    case "Locked":
      return `waiting: the state is locked by ${r.holder}`;
    default:
      return r._tag;
  }
};

/** Usage errors exit 2 here (1 is an abort, which a supervisor must tell apart from a bad command line). */
const USAGE_ERROR = 2;

const parseArgs = (argv: ReadonlyArray<string>) => {
  const { values, positionals } = parseFlags("reconcile", argv, {
    ...planFlags,
    interval: { type: "string" },
    watch: { type: "boolean" },
  });
  expectPositionals("reconcile", positionals, 1, Infinity, "fleet file (fleet reconcile FILE…)");
  return {
    values,
    positionals,
    config: orUsage("reconcile", backendConfig(values)),
    offline: offlineAfterOf("reconcile", values),
    intervalMs: values.interval === undefined ? 10_000 : orUsage("reconcile", parseDuration("--interval", values.interval)),
  };
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    t.err(`Error: ${e.message}`);
    return USAGE_ERROR;
  }
  const { values, positionals, config, offline, intervalMs } = args;
  const json = values.json === true;
  const watch = values.watch === true;
  if (values["no-typecheck"] !== true) await checkTypes(positionals, t, false);

  const signals = untilSignal();
  let stopping: NodeJS.Signals | undefined;
  void signals.signalled.then((s) => (stopping = s));
  try {
    return await withBackend(config, t, async (b) => {
      const source = fleetFilesWorld(positionals, loadTimeoutOf("reconcile", values));
      // Said once per holder, not at every step that finds the same controller holding it.
      let toldOwner: string | undefined;
      const onWait = (holder: LockWait): void => {
        if (holder.owner === toldOwner) return;
        toldOwner = holder.owner;
        if (json) t.out(J.line({ type: "waiting", holder: holder.text }));
        else t.err(`Waiting for the apply lock, held by ${holder.text}...`);
      };
      for (let step = 1; ; step++) {
        const once = async () => {
          const now = new Date();
          const planned = await plan(b.interpreter, source, { now, ...offline });
          if (planned.plan.conflicts.length > 0) throw new CliError(`the World has ${planned.plan.conflicts.length} conflicts; run fleet plan to see them`);
          const problems = rolloutProblemsOf(planned.plan);
          if (problems.length > 0) throw new CliError(`${problems.join("; ")}; nothing was applied`);
          return { now, planned, report: isEmptyPlan(planned.plan) ? undefined : await apply(b.interpreter, planned) };
        };
        // Where the backend can, the step holds its apply lock from the read to the last write.
        const done = b.interpreter.exclusive === undefined ? await once() : await b.interpreter.exclusive(once, { onWait, stop: signals.signalled });
        if (done === undefined) break;
        const { now, planned, report } = done;
        const verdict = stepVerdict(planned.plan);
        if (report?._tag === "Conflicts" || report?._tag === "RolloutProblems" || report?._tag === "Cancelled") throw new CliError(`step ${step}: apply refused (${report._tag})`);
        const rollouts = planned.plan.rollouts ?? [];
        if (json) {
          t.out(
            J.line({
              type: "step",
              step,
              at: now.toISOString(),
              verdict,
              actions: planned.plan.actions.length,
              ledger: planned.plan.ledger?.length ?? 0,
              result: report === undefined ? "nothing" : report._tag,
              ...(report?._tag === "Completed" ? { counts: report.counts } : {}),
              ...(report?._tag === "Locked" ? { holder: report.holder } : {}),
              rollouts: rollouts.map((r) => ({
                deployment: r.deployment,
                target: r.target,
                state: r.state,
                wave: r.wave,
                waves: r.waves.map((w) => ({ index: w.index, gate: w.gate, targeted: w.targeted, updated: w.updated, succeeded: w.succeeded, failed: w.failed, pending: w.pending, offline: w.offline })),
                ...(r.budget !== undefined ? { budget: r.budget } : {}),
                ...(r.failure !== undefined ? { failure: r.failure } : {}),
              })),
            }),
          );
        } else {
          reportProblems(planned.problems, t, false);
          t.out(`${now.toISOString()} step ${step}: ${appliedText(report)}`);
          for (const r of rollouts) t.out(`  ${rolloutLine(r)}`);
        }
        const failed = report?._tag === "Completed" && report.counts.failed > 0;
        if (verdict === "aborted" && !failed) {
          if (!json) t.err("A rollout aborted; reconcile stops (change the World to resume or roll forward).");
          return ExitCode.Error;
        }
        if (verdict === "converged" && !watch) {
          if (!json) t.out("Converged: the World is reached.");
          return ExitCode.Ok;
        }
        if (stopping !== undefined) break;
        let timer: NodeJS.Timeout | undefined;
        const woke = await Promise.race([new Promise<"tick">((r) => (timer = setTimeout(() => r("tick"), intervalMs))), signals.signalled]);
        clearTimeout(timer);
        if (woke !== "tick") break;
      }
      if (!json) t.err(`Stopped by ${stopping ?? "a signal"} between steps.`);
      return ExitCode.Ok;
    });
  } finally {
    signals.dispose();
  }
};
