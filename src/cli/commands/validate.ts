/**
 * `fleet validate FILE…`: checks fleet files offline, like `terraform
 * validate`: it never opens a backend. It type-checks (always), loads and
 * merges the files, and against the fleet the World declares reports
 * conflicts (errors) and selector overlaps (overrides, redundant pairs).
 * With no declared fleet it says what cannot be checked offline. Function
 * exports receive an empty inventory.
 */
import * as O from "fp-ts/lib/Option.js";
import { diff } from "../../diff/Diff.ts";
import { emptyReality } from "../../diff/Reality.ts";
import { parseFlags, wantsHelp, expectPositionals } from "../Args.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { checkFleetPaths, findTsconfig, loadFleetFiles, type LoadedFleet } from "../FleetFile.ts";
import { loadTimeoutFlag, loadTimeoutHelp, loadTimeoutOf } from "../Inputs.ts";
import { overlaps, type Overlap } from "../Overlaps.ts";
import { conflictLines } from "../PlanText.ts";
import { terminal } from "../Terminal.ts";
import { typeCheck } from "../TypeCheck.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { formatWorldWarning, worldWarnings } from "../../program/Warnings.ts";
import * as J from "../JsonLines.ts";

export const help = `Usage: fleet validate [flags] FILE…

Checks fleet files without touching any backend: type-checks them (with the
nearest tsconfig.json), loads and merges them, and, against the fleet the
World declares, reports conflicts (errors: apply would refuse them) and
selector overlaps (assignments giving the same deployment to one device:
overrides by priority, or redundant equal specs). Without a declared fleet,
conflicts depend on the devices that register: run \`fleet plan\` for those.
A file that exports a function of the inventory is called with no devices.

Warnings (exit code unchanged): against the declared fleet, an assignment
whose selector selects no device, a label key no device has (with the
nearest existing key: did you mean env?), a deployment given to no device.

Flags:
  --json                        print JSON lines (docs/cli.md) instead of text
${loadTimeoutHelp}
  -h, --help                    show this help

Exit codes: 0 valid, 1 invalid (type errors, a file that does not load, conflicts).`;

const list = (ids: ReadonlyArray<string>): string => (ids.length <= 5 ? ids.join(", ") : `${ids.slice(0, 5).join(", ")} and ${ids.length - 5} more`);

const overlapLine = (o: Overlap): string => {
  const n = `${o.devices.length} device${o.devices.length === 1 ? "" : "s"} (${list(o.devices)})`;
  switch (o.kind) {
    case "override":
      return `${o.deployment}: ${o.first.name} (priority ${o.first.priority}) overrides ${o.second.name} (priority ${o.second.priority}) on ${n}`;
    case "redundant":
      return `${o.deployment}: ${o.first.name} and ${o.second.name} give the same spec at priority ${o.first.priority} to ${n} (redundant)`;
    case "conflict":
      return `${o.deployment}: ${o.first.name} and ${o.second.name} give different specs at priority ${o.first.priority} to ${n}`;
  }
};

const overlapJson = (o: Overlap): string =>
  J.line({
    type: "overlap",
    kind: o.kind,
    deployment: o.deployment,
    first: { assignment: o.first.name, priority: o.first.priority },
    second: { assignment: o.second.name, priority: o.second.priority },
    devices: o.devices,
  });

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  const p = t.o;
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("validate", argv, { help: { type: "boolean", short: "h" }, json: { type: "boolean" }, ...loadTimeoutFlag });
  expectPositionals("validate", positionals, 1, Infinity, "fleet file (fleet validate FILE…)");
  const json = values.json === true;
  /** One finding: a JSON line, or a text line on stdout. */
  const say = (jsonLine: string, text: string): void => t.out(json ? jsonLine : text);
  let errors = 0;
  checkFleetPaths(positionals);
  const timeoutMs = loadTimeoutOf("validate", values);

  const tc = await typeCheck(positionals, { tsconfig: findTsconfig(positionals[0] as string) });
  if (tc._tag === "Unavailable") throw new CliError(`cannot type-check: ${tc.reason}`);
  if (tc._tag === "Errors") {
    for (const d of tc.diagnostics) {
      if (json) t.out(J.line({ type: "type_error", message: d }));
      else t.err(d);
    }
    say(J.line({ type: "typecheck", ok: false, errors: tc.diagnostics.length }), `${p.red("✗")} type check: ${tc.diagnostics.length} error${tc.diagnostics.length === 1 ? "" : "s"}`);
    errors += tc.diagnostics.length;
  } else say(J.line({ type: "typecheck", ok: true, cached: tc.cached }), `${p.green("✓")} type check${tc.cached ? " (unchanged since the last successful check)" : ""}`);

  let fleet: LoadedFleet;
  try {
    fleet = await loadFleetFiles(positionals, [], { timeoutMs });
  } catch (e) {
    if (errors > 0 && e instanceof CliError) {
      say(J.line({ type: "load_error", message: errorMessage(e) }), `${p.red("✗")} ${errorMessage(e)}`);
      throw new CliError(`the fleet files are not valid (${errors + 1} problems)`);
    }
    throw e;
  }
  for (const f of fleet.files) {
    const declared = O.isSome(f.world.fleet) ? f.world.fleet.value.devices.length : undefined;
    const what = f.kind === "function" ? "a function of the inventory (called with no devices)" : "a World";
    say(
      J.line({ type: "file", path: f.path, kind: f.kind, ...(declared !== undefined ? { devices: declared } : {}), assignments: f.world.assignments.length }),
      `${p.green("✓")} ${f.path}: ${what}: ${declared !== undefined ? `${declared} device${declared === 1 ? "" : "s"} declared, ` : ""}${f.world.assignments.length} assignment${f.world.assignments.length === 1 ? "" : "s"}`,
    );
  }
  const w = fleet.world;
  if (O.isNone(w.fleet)) {
    say(
      J.line({ type: "note", message: "the World declares no fleet: conflicts, overlaps and warnings depend on the devices that register (run fleet plan against the backend)" }),
      `${p.yellow("!")} the World declares no fleet: conflicts and overlaps depend on the devices that register, which validate does not read (run fleet plan against the backend to check them)`,
    );
  } else {
    const plan = diff(w, emptyReality, { now: new Date(0) });
    const deviceConflicts = plan.conflicts.filter((c) => c._tag !== "DeploymentConflict"); // deployment conflicts come with the overlaps below
    const found = overlaps(w.assignments, w.fleet.value.devices);
    const conflicts = found.filter((o) => o.kind === "conflict");
    const others = found.filter((o) => o.kind !== "conflict");
    if (deviceConflicts.length > 0) {
      if (json) for (const c of deviceConflicts) t.out(J.conflict(c));
      else for (const l of conflictLines(deviceConflicts, p)) if (l !== "") t.out(l);
      errors += deviceConflicts.length;
    }
    if (conflicts.length > 0) {
      if (!json) t.out(p.red(p.bold(`Conflicts (${conflicts.length}): apply is refused until they are resolved`)));
      for (const o of conflicts) say(overlapJson(o), `  ${p.red("!")} ${overlapLine(o)}`);
      errors += conflicts.length;
    }
    if (deviceConflicts.length === 0 && conflicts.length === 0 && !json) t.out(`${p.green("✓")} no conflicts on the ${w.fleet.value.devices.length} declared devices`);
    if (others.length > 0) {
      if (!json) t.out(p.bold(`Overlaps (${others.length}):`));
      for (const o of others) say(overlapJson(o), `  ${o.kind === "redundant" ? p.yellow("~") : p.cyan("↑")} ${overlapLine(o)}`);
    }
    const warnings = worldWarnings(w, w.fleet.value.devices);
    if (warnings.length > 0 && !json) t.out(p.bold(`Warnings (${warnings.length}):`));
    for (const x of warnings) say(J.worldWarning(x), `  ${p.yellow("!")} ${formatWorldWarning(x)}`);
  }
  if (json) t.out(J.line({ type: "validate", valid: errors === 0, problems: errors }));
  if (errors > 0) throw new CliError(`the fleet files are not valid (${errors} problem${errors === 1 ? "" : "s"})`);
  if (!json) t.out(p.green(p.bold("Success! The fleet files are valid.")));
  return ExitCode.Ok;
};
