/**
 * `fleet explain FILE… DEVICE`: why one device gets what it gets. Every
 * assignment with its selector's explain tree on the device (the clause by
 * clause verdict), the resulting desired deployments, conflicts and shadowed
 * assignments, and what the device reports (presence, heartbeat, published
 * and observed state).
 *
 * The device the selectors see is the one the diff sees: the declaration
 * when the World declares a fleet, else the registered device.
 */
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { shortHash } from "../../algebra/Deployment.ts";
import { DeviceCodec, type Device } from "../../algebra/Device.ts";
import { DEFAULT_OFFLINE_AFTER_MS } from "../../diff/Diff.ts";
import { explainDevice, type NameRow } from "../../diff/DeviceExplanation.ts";
import { renderExplanation } from "../../selectors/Explain.ts";
import { expectPositionals, orUsage, parseDeviceArg, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendFlags, backendHelp } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { checkTypes, loadTimeoutFlag, loadTimeoutHelp, loadTimeoutOf, readInputs, reportProblems, withBackend } from "../Inputs.ts";
import * as J from "../JsonLines.ts";
import { assignedByText, conflictLines } from "../PlanText.ts";
import { table } from "../Table.ts";
import { terminal } from "../Terminal.ts";
import { ago } from "./status.ts";

export const help = `Usage: fleet explain [flags] FILE… DEVICE

Explains what the World gives one device, and why: each assignment with its
selector evaluated clause by clause on the device, the desired deployments
that result, conflicts, assignments shadowed by a higher priority, and what
the device reports (presence, heartbeat, published and observed state).

Flags:
  --json                        print JSON lines (docs/cli.md) instead of text
  --no-typecheck                do not type-check the fleet files first (faster)
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
${loadTimeoutHelp}
  -h, --help                    show this help

${backendHelp}

Exit codes: 0 success, 1 error (including a device that is neither declared nor registered).`;

const describeDevice = (d: Device): string => {
  const labels = Object.entries(d.labels).map(([k, v]) => `${k}=${v}`);
  return `${labels.length === 0 ? "no labels" : labels.join(", ")}; arch ${d.arch}${d.agentVersion !== undefined ? `; agent ${d.agentVersion}` : ""}`;
};

/** What apply does with one name, from the diff's own step for the device. */
const fateNote = (n: NameRow): string => {
  switch (n.fate._tag) {
    case "Act": {
      const a = n.fate.action;
      return a._tag === "Create"
        ? "not published yet: apply creates it"
        : a._tag === "Update"
          ? "published spec is outdated: apply updates it"
          : a.reason._tag === "Unassigned"
            ? "published but not desired: apply deletes it"
            : "the device is not in the fleet: apply deletes it";
    }
    case "LeftAlone":
      return n.published !== undefined || n.desired !== undefined ? "left as it is" : "";
    case "InConflict":
      return "in conflict: apply leaves it as published";
    case "AsDesired":
      return n.desired !== undefined && n.observed?.specHash !== undefined && n.observed.specHash !== n.desired.specHash ? "the device runs an older spec" : "";
  }
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  const p = t.o;
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("explain", argv, {
    ...backendFlags,
    help: { type: "boolean", short: "h" },
    "no-typecheck": { type: "boolean" },
    "offline-after": { type: "string" },
    json: { type: "boolean" },
    ...loadTimeoutFlag,
  });
  expectPositionals("explain", positionals, 2, Infinity, "fleet file and device (fleet explain FILE… DEVICE)");
  const files = positionals.slice(0, -1);
  const id = orUsage("explain", parseDeviceArg("DEVICE", positionals[positionals.length - 1] as string));
  const config = orUsage("explain", backendConfig(values));
  const offlineAfterMs = values["offline-after"] === undefined ? DEFAULT_OFFLINE_AFTER_MS : orUsage("explain", parseDuration("--offline-after", values["offline-after"]));
  if (values["no-typecheck"] !== true) await checkTypes(files, t, false);

  return withBackend(config, t, async (b) => {
    const { reality, problems, fleet } = await readInputs(b, files, loadTimeoutOf("explain", values));
    const json = values.json === true;
    reportProblems(problems, t, json);
    const now = new Date();
    const x = explainDevice(fleet.world, reality, id, { now, offlineAfterMs });
    if (E.isLeft(x))
      throw new CliError(`device ${id} is neither declared by the World${x.left.fleetDeclared ? "" : " (which declares no fleet)"} nor registered with the backend`);
    const e = x.right;
    if (json) {
      const hb = e.registered?.lastHeartbeat;
      t.out(
        J.line({
          type: "device",
          device: id,
          inFleet: e.inFleet,
          ...(O.isSome(e.declarations) ? { declared: e.declarations.value.map((d) => DeviceCodec.encode(d)) } : {}),
          ...(e.registered !== undefined ? { registered: DeviceCodec.encode(e.registered.device) } : {}),
          presence: e.presence,
          ...(hb !== undefined ? { lastHeartbeat: hb.toISOString() } : {}),
          ...(e.unreadable !== undefined ? { unreadable: e.unreadable } : {}),
          ...(e.leftAlone !== undefined ? { leftAlone: e.leftAlone } : {}),
        }),
      );
      for (const a of e.assignments)
        t.out(J.line({ type: "assignment", assignment: a.assignment.name, priority: a.assignment.priority, matches: a.explanation.verdict, gives: a.gives, explanation: a.explanation }));
      if (e.inFleet) for (const r of e.resolution.entries) t.out(J.line({ type: "desired", deployment: r.name, specHash: r.specHash, assignedBy: r.by }));
      for (const c of e.conflicts) t.out(J.conflict(c));
      for (const x of e.resolution.shadowed) t.out(J.line({ type: "shadowed", assignment: x.assignment, deployment: x.deployment, priority: x.priority, by: x.by }));
      for (const n of e.names)
        t.out(
          J.line({
            type: "report",
            deployment: n.deployment,
            ...(n.desired !== undefined ? { desired: n.desired.specHash } : {}),
            ...(n.published !== undefined ? { published: n.published.specHash } : {}),
            ...(n.observed?.specHash !== undefined ? { observed: n.observed.specHash } : {}),
            ...(n.observed !== undefined ? { phase: n.observed.phase, at: n.observed.at.toISOString() } : {}),
            ...(n.observed?.error !== undefined ? { error: n.observed.error } : {}),
          }),
        );
      return ExitCode.Ok;
    }

    t.out(p.bold(`Device ${id}`));
    if (O.isSome(e.declarations)) {
      const ds = e.declarations.value;
      if (ds.length === 0) t.out(`  declared:   ${p.yellow("no")} (the World declares a fleet without it: its published deployments would be deleted)`);
      for (const d of ds) t.out(`  declared:   ${describeDevice(d)}`);
      if (ds.length > 1) t.out(`  ${p.red("conflict:")}   declared ${ds.length} times, differently`);
    }
    t.out(`  registered: ${e.registered === undefined ? "no" : describeDevice(e.registered.device)}`);
    const hb = e.registered?.lastHeartbeat;
    t.out(`  presence:   ${e.presence === "unregistered" ? "not registered" : e.presence}${hb !== undefined ? `, last heartbeat ${ago(hb, now)} (${hb.toISOString()})` : e.presence === "offline" ? ", no heartbeat yet" : ""}`);
    if (e.registeredDiffers) t.out(`  ${p.yellow("note:")}       it registered with other labels or arch than declared; selectors use the declaration`);
    if (e.unreadable !== undefined) t.out(`  ${p.red("unreadable:")} ${e.unreadable}`);
    if (e.leftAlone !== undefined) t.out(`  ${p.red("left alone:")} ${e.leftAlone}; the diff leaves this device exactly as it is`);
    t.out("");

    const res = e.resolution;
    t.out(p.bold(`Assignments (${e.assignments.length}):`));
    if (e.assignments.length === 0) t.out("  none");
    for (const a of e.assignments) {
      const gives = a.gives.map((g) => (g.shadowedBy !== undefined ? `${g.deployment} ${p.yellow(`(shadowed by ${g.shadowedBy})`)}` : g.deployment));
      const mark = a.explanation.verdict ? p.green("✓") : p.red("✗");
      const prio = a.assignment.priority !== 0 ? `, priority ${a.assignment.priority}` : "";
      t.out(`  ${mark} ${p.bold(a.assignment.name)}${prio}: gives ${gives.join(", ")}`);
      t.out(renderExplanation(a.explanation, "      "));
    }
    t.out("");

    t.out(p.bold(`Desired deployments (${res.entries.length}):`));
    if (!e.inFleet) t.out("  none: the device is not in the World's fleet");
    else if (res.entries.length === 0) t.out("  none");
    else {
      const w1 = Math.max(...res.entries.map((x) => x.name.length));
      for (const r of res.entries) t.out(`  ${r.name.padEnd(w1)}  ${shortHash(r.specHash)}  ${p.dim(assignedByText(r.by))}`);
    }
    if (e.conflicts.length > 0) {
      t.out("");
      for (const l of conflictLines(e.conflicts, p)) if (l !== "") t.out(l);
    }
    if (res.shadowed.length > 0) {
      t.out("");
      t.out(p.bold(`Shadowed (${res.shadowed.length}):`));
      for (const s of res.shadowed) t.out(`  ${s.assignment} (priority ${s.priority}) gives ${s.deployment}; ${s.by} wins with a higher priority`);
    }
    t.out("");

    t.out(p.bold("What the device reports:"));
    if (e.names.length === 0) t.out("  nothing published, nothing reported");
    else {
      const rows = e.names.map((n) => {
        const obs = n.observed;
        return [
          n.deployment,
          n.desired === undefined ? "-" : shortHash(n.desired.specHash),
          n.published === undefined ? "-" : shortHash(n.published.specHash),
          obs?.specHash === undefined ? "-" : shortHash(obs.specHash),
          obs === undefined ? "-" : obs.phase === "Running" ? p.green(obs.phase) : obs.phase === "Failed" || obs.phase === "Rejected" ? p.red(obs.phase) : obs.phase,
          obs === undefined ? "" : ago(obs.at, now),
          [obs?.error, fateNote(n)].filter((x) => x !== undefined && x !== "").join("; "),
        ];
      });
      for (const l of table(["DEPLOYMENT", "DESIRED", "PUBLISHED", "OBSERVED", "PHASE", "REPORTED", "NOTE"], rows, { paint: p })) t.out(`  ${l}`);
    }
    return ExitCode.Ok;
  });
};
