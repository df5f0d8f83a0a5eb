/**
 * `fleet plan FILE…`: what apply would do, changing nothing (like
 * `terraform plan`). Conflicts are printed first and make the exit code 1;
 * `--detailed-exitcode` tells "no changes" (0) from "changes" (2);
 * `--out` saves the plan for `fleet apply PLAN.json`.
 */
import * as E from "fp-ts/lib/Either.js";
import { plan } from "../../program/Plan.ts";
import { expectPositionals, orUsage, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendHelp, describeBackend } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import type { LoadedFleet } from "../FleetFile.ts";
import { fleetFilesWorld } from "../FleetSource.ts";
import * as J from "../JsonLines.ts";
import { rolloutProblemLines } from "../RolloutProblems.ts";
import { checkTypes, loadTimeoutHelp, loadTimeoutOf, withBackend } from "../Inputs.ts";
import { groupByOf, offlineAfterOf, planFlags } from "../PlanFlags.ts";
import { renderPlan } from "../PlanOutput.ts";
import { writeSavedPlan } from "../SavedPlan.ts";
import { terminal } from "../Terminal.ts";
import { VERSION } from "../Version.ts";

export const help = `Usage: fleet plan [flags] FILE…

Shows the actions that would make Reality (what the backend holds) match the
World the fleet files declare, and changes nothing. Several files are merged
(two teams' worlds).

Flags:
  --group-by device|deployment  group the actions by device (default) or by deployment
  --detailed-exitcode           exit 0 when there are no changes, 2 when there are, 1 on error
  --json                        print JSON lines (docs/cli.md) instead of text
  --out FILE                    save the plan, to apply exactly it later with \`fleet apply FILE\`
  --no-typecheck                do not type-check the fleet files first (faster)
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
${loadTimeoutHelp}
  -h, --help                    show this help

${backendHelp}

Exit codes: 0 success, 1 error, conflicts or rollout problems (a wave that takes
no device), 2 changes (with --detailed-exitcode only).`;

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("plan", argv, {
    ...planFlags,
    "detailed-exitcode": { type: "boolean" },
    out: { type: "string" },
  });
  expectPositionals("plan", positionals, 1, Infinity, "fleet file (fleet plan FILE…)");
  const config = orUsage("plan", backendConfig(values));
  const groupBy = groupByOf("plan", values);
  const offline = offlineAfterOf("plan", values);
  const json = values.json === true;

  if (values["no-typecheck"] !== true) await checkTypes(positionals, t, false);
  return withBackend(config, t, async (b) => {
    const now = new Date();
    let loaded: LoadedFleet | undefined;
    const p = await plan(b.interpreter, fleetFilesWorld(positionals, loadTimeoutOf("plan", values), (l) => (loaded = l)), { now, ...offline });
    const rolloutErrors = rolloutProblemLines(p.plan.rollouts, loaded?.files ?? []);
    // The header (World hash, Reality digest) is only printed with --json: read lazily.
    const header = { get world() { return p.worldHash; }, get reality() { return p.realityDigest; }, backend: describeBackend(config), files: positionals, now, ...(values.out !== undefined ? { saved: values.out } : {}) };
    await renderPlan(t, p, { json, groupBy, header });
    if (values.out !== undefined) {
      if (p.plan.conflicts.length > 0) throw new CliError(`the plan has conflicts; not saved to ${values.out}`);
      if (rolloutErrors.length > 0) throw new CliError(`${rolloutErrors.join("; ")}; not saved to ${values.out}`);
      const saved = await writeSavedPlan(values.out, {
        createdAt: now,
        fleetVersion: VERSION,
        cwd: process.cwd(),
        files: positionals,
        world: p.world,
        worldHash: p.worldHash,
        reality: p.realityDigest,
        backend: header.backend,
        now,
        plan: p.plan,
      });
      if (E.isLeft(saved)) throw new CliError(saved.left);
      if (!json) t.out(`\nSaved the plan to ${values.out}. To apply exactly these actions: fleet apply ${values.out}`);
    }
    if (p.plan.conflicts.length > 0) {
      t.err(`${t.e.red(t.e.bold("Error:"))} the World has ${p.plan.conflicts.length} conflict${p.plan.conflicts.length === 1 ? "" : "s"}; apply would be refused`);
      return ExitCode.Error;
    }
    if (rolloutErrors.length > 0) {
      for (const l of rolloutErrors) t.err(`${t.e.red(t.e.bold("Error:"))} ${l}`);
      if (json) for (const l of rolloutErrors) t.out(J.error(l));
      return ExitCode.Error;
    }
    return values["detailed-exitcode"] === true && p.plan.actions.length > 0 ? ExitCode.Changes : ExitCode.Ok;
  });
};
