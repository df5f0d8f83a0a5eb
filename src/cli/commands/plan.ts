/**
 * `fleet plan FILE…`: what apply would do, changing nothing (like
 * `terraform plan`). Conflicts are printed first and make the exit code 1;
 * `--detailed-exitcode` tells "no changes" (0) from "changes" (2);
 * `--out` saves the plan for `fleet apply PLAN.json`.
 */
import { rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { diff } from "../../diff/Diff.ts";
import type { Plan } from "../../diff/Plan.ts";
import { worldHash } from "../../world/World.ts";
import { expectPositionals, orUsage, parseChoice, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendFlags, backendHelp, describeBackend } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { checkTypes, readInputs, reportProblems, withBackend } from "../Inputs.ts";
import * as J from "../JsonLines.ts";
import { planLines, type GroupBy } from "../PlanText.ts";
import { encodeSavedPlan, realityDigest } from "../SavedPlan.ts";
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
  -h, --help                    show this help

${backendHelp}

Exit codes: 0 success, 1 error or conflicts, 2 changes (with --detailed-exitcode only).`;

export const planFlags = {
  ...backendFlags,
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  "group-by": { type: "string" },
  "no-typecheck": { type: "boolean" },
  "offline-after": { type: "string" },
} as const;

/** Writes a file atomically (temporary file, then rename), readable by the owner only: plans carry specs, env included. */
export const writePrivate = async (path: string, text: string): Promise<void> => {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
};

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
  const groupBy = orUsage("plan", parseChoice<GroupBy>("--group-by", ["device", "deployment"], values["group-by"] ?? "device"));
  const offlineAfterMs = values["offline-after"] === undefined ? undefined : orUsage("plan", parseDuration("--offline-after", values["offline-after"]));
  const json = values.json === true;

  if (values["no-typecheck"] !== true) await checkTypes(positionals, t, false);
  return withBackend(config, t, async (b) => {
    const { reality, problems, fleet } = await readInputs(b, positionals);
    const now = new Date();
    const plan: Plan = diff(fleet.world, reality, { now, ...(offlineAfterMs !== undefined ? { offlineAfterMs } : {}) });
    // Digesting Reality costs seconds at a million devices: only --json and --out print or keep it.
    let digested: { world: string; reality: string; backend: string; files: ReadonlyArray<string>; now: Date } | undefined;
    const header = () => (digested ??= { world: worldHash(fleet.world), reality: realityDigest(reality), backend: describeBackend(config), files: positionals, now });
    if (json) {
      t.out(J.planHeader({ ...header(), ...(values.out !== undefined ? { saved: values.out } : {}) }));
      for (const l of J.planLines(plan, problems)) t.out(l);
    } else {
      reportProblems(problems, t, false);
      for (const l of planLines(plan, groupBy, t.o)) t.out(l);
    }
    if (values.out !== undefined) {
      if (plan.conflicts.length > 0) throw new CliError(`the plan has conflicts; not saved to ${values.out}`);
      await writePrivate(
        resolve(values.out),
        encodeSavedPlan({ createdAt: now, fleetVersion: VERSION, cwd: process.cwd(), ...header(), plan }),
      );
      if (!json) t.out(`\nSaved the plan to ${values.out}. To apply exactly these actions: fleet apply ${values.out}`);
    }
    if (plan.conflicts.length > 0) {
      t.err(`${t.e.red(t.e.bold("Error:"))} the World has ${plan.conflicts.length} conflict${plan.conflicts.length === 1 ? "" : "s"}; apply would be refused`);
      return ExitCode.Error;
    }
    return values["detailed-exitcode"] === true && plan.actions.length > 0 ? ExitCode.Changes : ExitCode.Ok;
  });
};
