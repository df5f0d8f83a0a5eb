/**
 * `fleet apply FILE…` / `fleet apply PLAN.json`: makes Reality match the
 * World, like `terraform apply`.
 *
 * - From fleet files it plans, shows the plan and asks for confirmation on a
 *   terminal (`--auto-approve` skips it); on a non-interactive stdin it
 *   refuses without `--auto-approve`, before touching anything.
 * - A saved plan is applied as saved, without asking, after checking that it
 *   is still bound to Reality (its digest), to the backend it was made for,
 *   and (when the fleet files can still be loaded) to the World: otherwise
 *   "saved plan is stale".
 * - Conflicts refuse the apply. The interpreter also refuses a plan whose
 *   entries changed meanwhile (`Stale`) or whose state is locked.
 * - Every action's outcome is reported; failures do not hide successes, and
 *   any failure makes the exit code 1.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { shortHash } from "../../algebra/Deployment.ts";
import { diff } from "../../diff/Diff.ts";
import type { Plan } from "../../diff/Plan.ts";
import type { Progress } from "../../interpreters/Interpreter.ts";
import { worldHash, type World } from "../../world/World.ts";
import { expectPositionals, orUsage, parseChoice, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendHelp, describeBackend } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { confirm } from "../Confirm.ts";
import { loadFleetFiles } from "../FleetFile.ts";
import { lockedAdvice } from "../LockAdvice.ts";
import { checkTypes, inventoryOf, loadTimeoutHelp, loadTimeoutOf, readInputs, reportProblems, withBackend } from "../Inputs.ts";
import * as J from "../JsonLines.ts";
import { applyCompleteLine, countApplied, failureLines, planLines, type GroupBy } from "../PlanText.ts";
import { decodeSavedPlan, realityDigest, type SavedPlan } from "../SavedPlan.ts";
import { terminal, type Terminal } from "../Terminal.ts";
import { planFlags } from "./plan.ts";

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
${loadTimeoutHelp}
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
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

const readSaved = async (path: string): Promise<SavedPlan> => {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new CliError(`${path}: cannot read the saved plan (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const d = decodeSavedPlan(text);
  if (E.isLeft(d)) throw new CliError(`${path}: not a usable saved plan: ${d.left}`);
  return d.right;
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
  });
  expectPositionals("apply", positionals, 1, Infinity, "fleet file or saved plan (fleet apply FILE… | PLAN.json)");
  const config = orUsage("apply", backendConfig(values));
  const groupBy = orUsage("apply", parseChoice<GroupBy>("--group-by", ["device", "deployment"], values["group-by"] ?? "device"));
  const offlineAfterMs = values["offline-after"] === undefined ? undefined : orUsage("apply", parseDuration("--offline-after", values["offline-after"]));
  const json = values.json === true;
  const savedPath = positionals.length === 1 && (positionals[0] as string).endsWith(".json") ? (positionals[0] as string) : undefined;
  if (savedPath === undefined && positionals.some((p) => p.endsWith(".json")))
    throw new CliError("a saved plan is applied on its own: fleet apply PLAN.json");
  const autoApprove = values["auto-approve"] === true || savedPath !== undefined;
  if (!autoApprove && json) throw new CliError("--json needs --auto-approve (or a saved plan): there is no terminal to confirm on");
  if (!autoApprove && !t.stdinIsTTY)
    throw new CliError("refusing to apply without confirmation: stdin is not a terminal (pass --auto-approve, or apply a saved plan)");

  const saved = savedPath === undefined ? undefined : await readSaved(savedPath);
  if (saved === undefined && values["no-typecheck"] !== true) await checkTypes(positionals, t, false);

  return withBackend(config, t, async (b) => {
    let plan: Plan;
    // The World, when we have it, is published to backends that show it (publishWorld).
    let world: World | undefined;
    if (saved !== undefined) {
      const target = describeBackend(config);
      if (saved.backend !== target) throw new CliError(`saved plan ${savedPath} was made for backend ${saved.backend}, not ${target}`);
      const { reality, problems } = await b.interpreter.read();
      if (realityDigest(reality) !== saved.reality)
        throw new CliError(`saved plan is stale: Reality changed since ${savedPath} was made (${saved.createdAt.toISOString()}); run fleet plan again`);
      const files = saved.files.map((f) => resolve(saved.cwd, f));
      if (files.length > 0 && files.every((f) => existsSync(f))) {
        let hash: string;
        try {
          world = (await loadFleetFiles(files, inventoryOf(reality), { timeoutMs: loadTimeoutOf("apply", values) })).world;
          hash = worldHash(world);
        } catch (e) {
          throw new CliError(`saved plan is stale: its fleet files no longer load (${(e as Error).message})`);
        }
        if (hash !== saved.world)
          throw new CliError(`saved plan is stale: the fleet files (${saved.files.join(", ")}) no longer give the World it was made from (${shortHash(saved.world)} → ${shortHash(hash)}); run fleet plan again`);
      } else if (!json) t.err(`${t.e.yellow("Note:")} the fleet files of the saved plan are not here; applying it as saved`);
      if (json) {
        t.out(J.planHeader({ world: saved.world, reality: saved.reality, backend: saved.backend, files: saved.files, now: saved.now, saved: savedPath as string }));
        for (const l of J.planLines(saved.plan, problems)) t.out(l);
      } else reportProblems(problems, t, false);
      plan = saved.plan;
    } else {
      const { reality, problems, fleet } = await readInputs(b, positionals, loadTimeoutOf("apply", values));
      world = fleet.world;
      const now = new Date();
      plan = diff(fleet.world, reality, { now, ...(offlineAfterMs !== undefined ? { offlineAfterMs } : {}) });
      if (json) {
        t.out(J.planHeader({ world: worldHash(fleet.world), reality: realityDigest(reality), backend: describeBackend(config), files: positionals, now }));
        for (const l of J.planLines(plan, problems)) t.out(l);
      } else reportProblems(problems, t, false);
    }
    if (!json) for (const l of planLines(plan, groupBy, t.o)) t.out(l);

    if (plan.conflicts.length > 0)
      throw new CliError(`apply refused: the World has ${plural(plan.conflicts.length, "conflict")} (listed above); resolve them with priorities or by making the specs agree`);
    const publish = async (): Promise<void> => {
      if (world === undefined || b.interpreter.publishWorld === undefined) return;
      const problems = await b.interpreter.publishWorld(world, new Date());
      if (!json) for (const p of problems) t.err(`${t.e.yellow("Warning:")} ${p}`);
    };
    if (plan.actions.length === 0) {
      await publish();
      if (json) t.out(J.applied({ created: 0, updated: 0, deleted: 0, failed: 0 }));
      else t.out(applyCompleteLine({ created: 0, updated: 0, deleted: 0, failed: 0 }, t.o));
      return ExitCode.Ok;
    }
    if (!autoApprove) {
      t.out("");
      if (!(await confirm("Do you want to perform these actions?"))) {
        t.err("Apply cancelled.");
        return ExitCode.Error;
      }
    }
    const onProgress = json ? undefined : progressReporter(t, values.progress === true);
    const result = await b.interpreter.apply(plan, onProgress !== undefined ? { onProgress } : {});
    switch (result._tag) {
      case "Stale": {
        const first = result.stale[0];
        const example = first === undefined ? "" : ` (e.g. ${first.device}.${first.deployment}: expected ${first.expected ?? "no entry"}, found ${first.found ?? "no entry"})`;
        const n = result.stale.length;
        throw new CliError(`the plan is stale: ${n} ${n === 1 ? "entry" : "entries"} changed since it was computed${example}; nothing was applied, run fleet plan again`);
      }
      case "Locked":
        throw new CliError(
          `the state is locked by ${result.holder}${result.until !== undefined ? ` until ${result.until.toISOString()}` : ""}; nothing was applied. ${lockedAdvice(config)}`,
        );
      case "Completed": {
        await publish();
        const counts = countApplied(result.outcomes);
        if (json) {
          for (const o of result.outcomes) t.out(J.outcome(o));
          t.out(J.applied(counts));
        } else {
          t.out("");
          for (const l of failureLines(result.outcomes, t.e)) t.err(l);
          t.out(applyCompleteLine(counts, t.o));
        }
        return counts.failed > 0 ? ExitCode.Error : ExitCode.Ok;
      }
    }
  });
};
