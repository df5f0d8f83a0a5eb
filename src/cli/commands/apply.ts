/**
 * `fleet apply FILE…` / `fleet apply PLAN.json`: makes Reality match the
 * World, like `terraform apply`. It parses flags, calls the program layer
 * (`plan` or `bindSavedPlan`, then `apply`) and renders; the use case itself
 * lives in `src/program/`.
 *
 * - From fleet files it plans, shows the plan and asks for confirmation on a
 *   terminal (`--auto-approve` skips it); on a non-interactive stdin it
 *   refuses without `--auto-approve`, before touching anything.
 * - A saved plan is applied without asking, only if it is still bound to its
 *   backend, Reality and World and its actions are exactly what they give
 *   (`src/program/Binding.ts`): otherwise "stale" or "edited".
 * - Conflicts refuse the apply, and so do a staged rollout's policy problems. The interpreter also refuses a plan whose
 *   entries changed meanwhile (`Stale`) or whose state is locked.
 * - Every action's outcome is reported; failures do not hide successes, and
 *   any failure makes the exit code 1.
 */
import * as E from "fp-ts/lib/Either.js";
import { entryKey } from "../../algebra/Name.ts";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Progress } from "../../interpreters/Interpreter.ts";
import { apply, type ApplyReport, type SigningContext } from "../../program/Apply.ts";
import { entrySigner } from "../../trust/Signer.ts";
import { bindSavedPlan } from "../../program/Binding.ts";
import { plan, type Planned } from "../../program/Plan.ts";
import { expectPositionals, orUsage, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendHelp, describeBackend, type BackendConfig } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { confirm } from "../Confirm.ts";
import { checkTypes, loadTimeoutHelp, loadTimeoutOf, withBackend } from "../Inputs.ts";
import * as J from "../JsonLines.ts";
import { groupByOf, offlineAfterOf, planFlags } from "../PlanFlags.ts";
import { applyCompleteLine, failureLines } from "../PlanText.ts";
import { formatBindingRefusal, readSavedPlan } from "../SavedPlan.ts";
import { terminal, type Terminal } from "../Terminal.ts";
import type { LoadedFleet } from "../FleetFile.ts";
import { fleetFilesWorld } from "../FleetSource.ts";
import { rolloutProblemLines } from "../RolloutProblems.ts";
import { lockedAdvice } from "../LockAdvice.ts";
import { renderPlan } from "../PlanOutput.ts";
import { signingFlags, signingHelp, signingOf } from "../TrustFiles.ts";
import { prepareSigning } from "../../trust/SigningThread.ts";

export const help = `Usage: fleet apply [flags] FILE…
       fleet apply [flags] PLAN.json

Makes Reality match the World the fleet files declare: plans, shows the plan,
asks for confirmation, applies. Given a plan saved by \`fleet plan --out\`, it
applies exactly that plan, without asking, if Reality has not changed since.

Flags:
  --auto-approve                skip the confirmation (required when stdin is not a terminal)
  --progress                    report progress on stderr even when it is not a terminal
  --group-by device|deployment  group the actions by device (default) or by deployment
  --json                        print JSON lines (docs/cli.md) instead of text; needs --auto-approve or a saved plan
  --no-typecheck                do not type-check the fleet files first (faster)
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
${signingHelp}
${loadTimeoutHelp}
  -h, --help                    show this help

${backendHelp}

Exit codes: 0 applied (or nothing to do), 1 error, refused, cancelled or any action failed.`;

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

const progressReporter = (t: Terminal, forced: boolean): ((p: Progress) => void) | undefined => {
  if (t.stderrIsTTY) {
    return (p) => {
      t.errRaw(`\r  Applying: ${p.done}/${p.total}${p.failed > 0 ? ` (${p.failed} failed)` : ""}`);
      if (p.done === p.total) t.errRaw("\n");
    };
  }
  if (!forced) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (p.done === p.total || now - last >= 1000) {
      last = now;
      t.err(`Applying: ${p.done}/${p.total}${p.failed > 0 ? ` (${p.failed} failed)` : ""}`);
    }
  };
};

/** The result of an apply, rendered; returns the exit code or throws the refusal as one line. */
const renderReport = async (t: Terminal, r: ApplyReport, json: boolean, config: BackendConfig): Promise<number> => {
  const publishProblems = r._tag === "Completed" ? r.publishProblems : [];
  if (!json) for (const p of publishProblems) t.err(`${t.e.yellow("Warning:")} ${p}`);
  switch (r._tag) {
    case "Conflicts":
      throw new CliError(`apply refused: the World has ${plural(r.conflicts.length, "conflict")} (listed above); resolve them with priorities or by making the specs agree`);
    case "RolloutProblems":
      throw new CliError(`apply refused: ${r.problems.join("; ")}; nothing was applied`);
    case "Cancelled":
      t.err("Apply cancelled.");
      return ExitCode.Error;
    case "Stale": {
      const first = r.stale[0];
      const example = first === undefined ? "" : ` (e.g. ${entryKey(first.device, first.deployment)}: expected ${first.expected ?? "no entry"}, found ${first.found ?? "no entry"})`;
      const n = r.stale.length;
      throw new CliError(`the plan is stale: ${n} ${n === 1 ? "entry" : "entries"} changed since it was computed${example}; nothing was applied, run fleet plan again`);
    }
    case "Locked":
      throw new CliError(
        `the state is locked by ${r.holder}${r.until !== undefined ? ` until ${r.until.toISOString()}` : ""}; nothing was applied. ${lockedAdvice(config)}`,
      );
    case "Completed":
      if (json) {
        const outcomes = r.outcomes;
        const counts = r.counts;
        await t.outLines(
          (function* () {
            for (const o of outcomes) yield J.outcome(o);
            yield J.applied(counts);
          })(),
        );
      } else {
        if (r.outcomes.length > 0) t.out("");
        for (const l of failureLines(r.outcomes, t.e)) t.err(l);
        t.out(applyCompleteLine(r.counts, t.o));
      }
      return r.counts.failed > 0 ? ExitCode.Error : ExitCode.Ok;
  }
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("apply", argv, {
    ...planFlags,
    "auto-approve": { type: "boolean" },
    progress: { type: "boolean" },
    ...signingFlags,
  });
  expectPositionals("apply", positionals, 1, Infinity, "fleet file or saved plan (fleet apply FILE… | PLAN.json)");
  const config = orUsage("apply", backendConfig(values));
  const groupBy = groupByOf("apply", values);
  const offline = offlineAfterOf("apply", values);
  const json = values.json === true;
  const savedPath = positionals.length === 1 && (positionals[0] as string).endsWith(".json") ? (positionals[0] as string) : undefined;
  if (savedPath === undefined && positionals.some((p) => p.endsWith(".json")))
    throw new CliError("a saved plan is applied on its own: fleet apply PLAN.json");
  const autoApprove = values["auto-approve"] === true || savedPath !== undefined;
  if (!autoApprove && json) throw new CliError("--json needs --auto-approve (or a saved plan): there is no terminal to confirm on");
  if (!autoApprove && !t.stdinIsTTY)
    throw new CliError("refusing to apply without confirmation: stdin is not a terminal (pass --auto-approve, or apply a saved plan)");

  const saved = savedPath === undefined ? undefined : await readSavedPlan(savedPath);
  if (saved !== undefined && E.isLeft(saved)) throw new CliError(saved.left);
  if (saved === undefined && values["no-typecheck"] !== true) await checkTypes(positionals, t, false);
  // Before connecting: a missing or unreadable key fails at once, with nothing written.
  const signing = await signingOf("apply", values, config._tag);

  return withBackend(config, t, async (b) => {
    const target = describeBackend(config);
    let planned: Planned;
    if (saved !== undefined && savedPath !== undefined) {
      const s = saved.right;
      const files = s.files.map((f) => resolve(s.cwd, f));
      const present = files.length > 0 && files.every((f) => existsSync(f));
      const bound = await bindSavedPlan(b.interpreter, s, { backend: target, ...(present ? { reload: fleetFilesWorld(files, loadTimeoutOf("apply", values)) } : {}) });
      if (E.isLeft(bound)) throw new CliError(formatBindingRefusal(bound.left, savedPath, s));
      if (!bound.right.filesChecked && !json) t.err(`${t.e.yellow("Note:")} the fleet files of the saved plan are not here; applying it as checked against the World it carries`);
      planned = bound.right.planned;
      await renderPlan(t, planned, { json, groupBy, header: { world: s.worldHash, reality: s.reality, backend: s.backend, files: s.files, now: s.now, saved: savedPath } });
    } else {
      const now = new Date();
      let loaded: LoadedFleet | undefined;
      planned = await plan(b.interpreter, fleetFilesWorld(positionals, loadTimeoutOf("apply", values), (l) => (loaded = l)), { now, ...offline });
      const p = planned;
      // A large signed apply: the signing thread boots while the plan is rendered and confirmed, so it signs beside
      // the writes from the apply's first trees (a small one signs on this thread and never pays for the thread's start).
      if (signing !== undefined) prepareSigning(p.plan.actions.length);
      // The header's hashes are only printed with --json: read lazily (digesting a million devices costs seconds and a copy of them).
      await renderPlan(t, p, { json, groupBy, header: { get world() { return p.worldHash; }, get reality() { return p.realityDigest; }, backend: target, files: positionals, now } });
      const rolloutErrors = rolloutProblemLines(planned.plan.rollouts, loaded?.files ?? []);
      if (rolloutErrors.length > 0) throw new CliError(`apply refused: ${rolloutErrors.join("; ")}`);
    }
    // A saved plan's, likewise, before it is confirmed.
    if (signing !== undefined) prepareSigning(planned.plan.actions.length);
    const onProgress = json ? undefined : progressReporter(t, values.progress === true);
    const report = await apply(b.interpreter, planned, {
      ...(autoApprove
        ? {}
        : {
            confirm: async () => {
              t.out("");
              return confirm("Do you want to perform these actions?");
            },
          }),
      ...(onProgress !== undefined ? { onProgress } : {}),
      ...(signing !== undefined ? { signer: (context: SigningContext) => entrySigner(signing.key, { ...context, ttlMs: signing.ttlMs }) } : {}),
    });
    return await renderReport(t, report, json, config);
  });
};
