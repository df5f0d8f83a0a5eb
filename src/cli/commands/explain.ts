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
import * as O from "fp-ts/lib/Option.js";
import { shortHash } from "../../algebra/Deployment.ts";
import type { Device } from "../../algebra/Device.ts";
import { OrdDeploymentName, type DeploymentName } from "../../algebra/Name.ts";
import { DeviceCodec } from "../../algebra/Device.ts";
import * as J from "../JsonLines.ts";
import { DEFAULT_OFFLINE_AFTER_MS, presence, resolver } from "../../diff/Diff.ts";
import { explain, renderExplanation } from "../../selectors/Explain.ts";
import type { Assignment } from "../../world/Assignment.ts";
import { expectPositionals, orUsage, parseDeviceArg, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendFlags, backendHelp } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { checkTypes, loadTimeoutFlag, loadTimeoutHelp, loadTimeoutOf, readInputs, reportProblems, withBackend } from "../Inputs.ts";
import { assignedByText } from "../PlanText.ts";
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
${loadTimeoutHelp}
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
  -h, --help                    show this help

${backendHelp}

Exit codes: 0 success, 1 error (including a device that is neither declared nor registered).`;

const describeDevice = (d: Device): string => {
  const labels = Object.entries(d.labels).map(([k, v]) => `${k}=${v}`);
  return `${labels.length === 0 ? "no labels" : labels.join(", ")}; arch ${d.arch}${d.agentVersion !== undefined ? `; agent ${d.agentVersion}` : ""}`;
};

const byPriorityThenName = (a: Assignment, b: Assignment): number =>
  b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

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
    json: { type: "boolean" },
    "no-typecheck": { type: "boolean" },
    "offline-after": { type: "string" },
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
    const w = fleet.world;
    const now = new Date();
    const declarations = O.isSome(w.fleet) ? w.fleet.value.filter((d) => d.id === id) : [];
    const registered = reality.devices.get(id);
    const inFleet = O.isNone(w.fleet) ? registered !== undefined : declarations.length > 0;
    const seen: Device | undefined = O.isSome(w.fleet) ? (declarations[0] ?? registered?.device) : registered?.device;
    if (seen === undefined)
      throw new CliError(`device ${id} is neither declared by the World${O.isNone(w.fleet) ? " (which declares no fleet)" : ""} nor registered with the backend`);

    const damage = reality.damaged.get(id);
    const res = resolver(w)(seen);
    const assignments = [...w.assignments].sort(byPriorityThenName);
    const published = reality.desired.get(id);
    const observed = reality.observed.get(id);
    const pr = presence(reality, id, now.getTime(), offlineAfterMs);
    const hb = registered?.lastHeartbeat;
    if (json) {
      t.out(
        J.line({
          type: "device",
          device: id,
          inFleet,
          ...(O.isSome(w.fleet) ? { declared: declarations.map((d) => DeviceCodec.encode(d)) } : {}),
          ...(registered !== undefined ? { registered: DeviceCodec.encode(registered.device) } : {}),
          presence: pr,
          ...(hb !== undefined ? { lastHeartbeat: hb.toISOString() } : {}),
          ...(damage !== undefined ? { unreadable: damage } : {}),
        }),
      );
      for (const a of assignments) {
        const e = explain(a.selector, seen);
        const gives = a.deployments.map((d) => {
          const by = e.verdict ? res.shadowed.find((x) => x.assignment === a.name && x.deployment === d.name)?.by : undefined;
          return { deployment: d.name, ...(by !== undefined ? { shadowedBy: by } : {}) };
        });
        t.out(J.line({ type: "assignment", assignment: a.name, priority: a.priority, matches: e.verdict, gives, explanation: e }));
      }
      if (inFleet) for (const e of res.entries) t.out(J.line({ type: "desired", deployment: e.name, specHash: e.specHash, assignedBy: e.by }));
      for (const c of res.conflicts) t.out(J.conflict({ _tag: "DeploymentConflict", device: id, deployment: c.deployment, priority: c.priority, candidates: c.candidates }));
      for (const x of res.shadowed) t.out(J.line({ type: "shadowed", assignment: x.assignment, deployment: x.deployment, priority: x.priority, by: x.by }));
      const names = [...new Set<DeploymentName>([...(inFleet ? res.entries.map((e) => e.name) : []), ...(published?.keys() ?? []), ...(observed?.keys() ?? [])])].sort(OrdDeploymentName.compare);
      for (const n of names) {
        const want = inFleet ? res.byName.get(n) : undefined;
        const pub = published?.get(n);
        const obs = observed?.get(n);
        t.out(
          J.line({
            type: "report",
            deployment: n,
            ...(want !== undefined ? { desired: want.specHash } : {}),
            ...(pub !== undefined ? { published: pub.specHash } : {}),
            ...(obs?.specHash !== undefined ? { observed: obs.specHash } : {}),
            ...(obs !== undefined ? { phase: obs.phase, at: obs.at.toISOString() } : {}),
            ...(obs?.error !== undefined ? { error: obs.error } : {}),
          }),
        );
      }
      return ExitCode.Ok;
    }

    t.out(p.bold(`Device ${id}`));
    if (O.isSome(w.fleet)) {
      if (declarations.length === 0) t.out(`  declared:   ${p.yellow("no")} (the World declares a fleet without it: its published deployments would be deleted)`);
      for (const d of declarations) t.out(`  declared:   ${describeDevice(d)}`);
      if (declarations.length > 1) t.out(`  ${p.red("conflict:")}   declared ${declarations.length} times, differently: the diff leaves it alone`);
    }
    t.out(`  registered: ${registered === undefined ? "no" : describeDevice(registered.device)}`);
    t.out(`  presence:   ${pr === "unregistered" ? "not registered" : pr}${hb !== undefined ? `, last heartbeat ${ago(hb, now)} (${hb.toISOString()})` : pr === "offline" ? ", no heartbeat yet" : ""}`);
    if (O.isSome(w.fleet) && registered !== undefined && declarations.length > 0 && describeDevice(registered.device) !== describeDevice(declarations[0] as Device))
      t.out(`  ${p.yellow("note:")}       it registered with other labels or arch than declared; selectors use the declaration`);
    if (damage !== undefined) t.out(`  ${p.red("unreadable:")} ${damage}; the diff leaves this device exactly as it is`);
    t.out("");

    const shadowedBy = new Map(res.shadowed.map((s) => [`${s.assignment}\u0000${s.deployment}`, s.by]));
    t.out(p.bold(`Assignments (${assignments.length}):`));
    if (assignments.length === 0) t.out("  none");
    for (const a of assignments) {
      const e = explain(a.selector, seen);
      const gives = a.deployments.map((d) => {
        const by = shadowedBy.get(`${a.name}\u0000${d.name}`);
        return by !== undefined && e.verdict ? `${d.name} ${p.yellow(`(shadowed by ${by})`)}` : d.name;
      });
      const mark = e.verdict ? p.green("✓") : p.red("✗");
      const prio = a.priority !== 0 ? `, priority ${a.priority}` : "";
      t.out(`  ${mark} ${p.bold(a.name)}${prio}: gives ${gives.join(", ")}`);
      t.out(renderExplanation(e, "      "));
    }
    t.out("");

    t.out(p.bold(`Desired deployments (${inFleet ? res.entries.length : 0}):`));
    if (!inFleet) t.out("  none: the device is not in the World's fleet");
    else if (res.entries.length === 0) t.out("  none");
    else {
      const w1 = Math.max(...res.entries.map((e) => e.name.length));
      for (const e of res.entries) t.out(`  ${e.name.padEnd(w1)}  ${shortHash(e.specHash)}  ${p.dim(assignedByText(e.by))}`);
    }
    if (res.conflicts.length > 0) {
      t.out("");
      t.out(p.red(p.bold(`Conflicts (${res.conflicts.length}):`)));
      for (const c of res.conflicts)
        t.out(`  ${p.red("!")} ${c.deployment}: different specs at priority ${c.priority} from ${c.candidates.map((x) => `${x.assignment} (${shortHash(x.specHash)})`).join(", ")}`);
    }
    if (res.shadowed.length > 0) {
      t.out("");
      t.out(p.bold(`Shadowed (${res.shadowed.length}):`));
      for (const s of res.shadowed) t.out(`  ${s.assignment} (priority ${s.priority}) gives ${s.deployment}; ${s.by} wins with a higher priority`);
    }
    t.out("");

    t.out(p.bold("What the device reports:"));
    const names = new Set<DeploymentName>([...(inFleet ? res.entries.map((e) => e.name) : []), ...(published?.keys() ?? []), ...(observed?.keys() ?? [])]);
    if (names.size === 0) t.out("  nothing published, nothing reported");
    else {
      const rows = [...names].sort().map((n) => {
        const want = inFleet ? res.byName.get(n) : undefined;
        const pub = published?.get(n);
        const obs = observed?.get(n);
        const note =
          want === undefined && pub !== undefined
            ? "published but not desired: apply deletes it"
            : want !== undefined && pub === undefined
              ? "not published yet: apply creates it"
              : want !== undefined && pub !== undefined && pub.specHash !== want.specHash
                ? "published spec is outdated: apply updates it"
                : want !== undefined && obs !== undefined && obs.specHash !== want.specHash
                  ? "the device runs an older spec"
                  : "";
        return [
          n,
          want === undefined ? "-" : shortHash(want.specHash),
          pub === undefined ? "-" : shortHash(pub.specHash),
          obs?.specHash === undefined ? "-" : shortHash(obs.specHash),
          obs === undefined ? "-" : obs.phase === "Running" ? p.green(obs.phase) : obs.phase === "Failed" || obs.phase === "Rejected" ? p.red(obs.phase) : obs.phase,
          obs === undefined ? "" : ago(obs.at, now),
          [obs?.error, note].filter((x) => x !== undefined && x !== "").join("; "),
        ];
      });
      for (const l of table(["DEPLOYMENT", "DESIRED", "PUBLISHED", "OBSERVED", "PHASE", "REPORTED", "NOTE"], rows, { paint: p })) t.out(`  ${l}`);
    }
    return ExitCode.Ok;
  });
};
