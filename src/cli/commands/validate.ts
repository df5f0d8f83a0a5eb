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
import { findTsconfig, loadFleetFiles, type LoadedFleet } from "../FleetFile.ts";
import { overlaps, type Overlap } from "../Overlaps.ts";
import { conflictLines } from "../PlanText.ts";
import { terminal } from "../Terminal.ts";
import { typeCheck } from "../TypeCheck.ts";

export const help = `Usage: fleet validate [flags] FILE…

Checks fleet files without touching any backend: type-checks them (with the
nearest tsconfig.json), loads and merges them, and, against the fleet the
World declares, reports conflicts (errors: apply would refuse them) and
selector overlaps (assignments giving the same deployment to one device:
overrides by priority, or redundant equal specs). Without a declared fleet,
conflicts depend on the devices that register: run \`fleet plan\` for those.
A file that exports a function of the inventory is called with no devices.

Flags:
  -h, --help   show this help

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

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  const p = t.o;
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { positionals } = parseFlags("validate", argv, { help: { type: "boolean", short: "h" } });
  expectPositionals("validate", positionals, 1, Infinity, "fleet file (fleet validate FILE…)");
  let errors = 0;

  const tc = await typeCheck(positionals, { tsconfig: findTsconfig(positionals[0] as string) });
  if (tc._tag === "Unavailable") throw new CliError(`cannot type-check: ${tc.reason}`);
  if (tc._tag === "Errors") {
    for (const d of tc.diagnostics) t.err(d);
    t.out(`${p.red("✗")} type check: ${tc.diagnostics.length} error${tc.diagnostics.length === 1 ? "" : "s"}`);
    errors += tc.diagnostics.length;
  } else t.out(`${p.green("✓")} type check${tc.cached ? " (unchanged since the last successful check)" : ""}`);

  let fleet: LoadedFleet;
  try {
    fleet = await loadFleetFiles(positionals, []);
  } catch (e) {
    if (errors > 0 && e instanceof CliError) {
      t.out(`${p.red("✗")} ${e.message}`);
      throw new CliError(`the fleet files are not valid (${errors + 1} problems)`);
    }
    throw e;
  }
  for (const f of fleet.files) {
    const declared = O.isSome(f.world.fleet) ? `${f.world.fleet.value.devices.length} device${f.world.fleet.value.devices.length === 1 ? "" : "s"} declared, ` : "";
    const what = f.kind === "function" ? "a function of the inventory (called with no devices)" : "a World";
    t.out(`${p.green("✓")} ${f.path}: ${what}: ${declared}${f.world.assignments.length} assignment${f.world.assignments.length === 1 ? "" : "s"}`);
  }
  const w = fleet.world;
  if (O.isNone(w.fleet)) {
    t.out(
      `${p.yellow("!")} the World declares no fleet: conflicts and overlaps depend on the devices that register, which validate does not read (run fleet plan against the backend to check them)`,
    );
  } else {
    const plan = diff(w, emptyReality, { now: new Date(0) });
    const deviceConflicts = plan.conflicts.filter((c) => c._tag !== "DeploymentConflict"); // deployment conflicts come with the overlaps below
    const found = overlaps(w.assignments, w.fleet.value.devices);
    const conflicts = found.filter((o) => o.kind === "conflict");
    const others = found.filter((o) => o.kind !== "conflict");
    if (deviceConflicts.length > 0) {
      for (const l of conflictLines(deviceConflicts, p)) if (l !== "") t.out(l);
      errors += deviceConflicts.length;
    }
    if (conflicts.length > 0) {
      t.out(p.red(p.bold(`Conflicts (${conflicts.length}): apply is refused until they are resolved`)));
      for (const o of conflicts) t.out(`  ${p.red("!")} ${overlapLine(o)}`);
      errors += conflicts.length;
    }
    if (deviceConflicts.length === 0 && conflicts.length === 0) t.out(`${p.green("✓")} no conflicts on the ${w.fleet.value.devices.length} declared devices`);
    if (others.length > 0) {
      t.out(p.bold(`Overlaps (${others.length}):`));
      for (const o of others) t.out(`  ${o.kind === "redundant" ? p.yellow("~") : p.cyan("↑")} ${overlapLine(o)}`);
    }
  }
  if (errors > 0) throw new CliError(`the fleet files are not valid (${errors} problem${errors === 1 ? "" : "s"})`);
  t.out(p.green(p.bold("Success! The fleet files are valid.")));
  return ExitCode.Ok;
};
