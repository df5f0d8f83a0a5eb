/**
 * `fleet status FILE… [--device ID]`: how far Reality has come towards the
 * World, from what agents report: per deployment, how many devices it
 * matches and how many run it (succeeded), failed, are pending or offline,
 * with the latest error, and staged rollouts wave by wave; per device with
 * `--device`.
 */
import { shortHash } from "../../algebra/Deployment.ts";
import * as E from "fp-ts/lib/Either.js";
import type { DeviceStatus, FleetStatus } from "../../diff/Status.ts";
import type { GateState, RolloutProgress } from "../../diff/Plan.ts";
import { rolloutLines } from "../RolloutText.ts";
import { deviceStatus, fleetStatus } from "../../program/Status.ts";
import { expectPositionals, orUsage, parseDeviceArg, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendFlags, backendHelp } from "../backends.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { fleetFilesWorld } from "../FleetSource.ts";
import { checkTypes, loadTimeoutFlag, loadTimeoutHelp, loadTimeoutOf, reportProblems, withBackend } from "../Inputs.ts";
import { offlineAfterOf } from "../PlanFlags.ts";
import * as J from "../JsonLines.ts";
import { table } from "../Table.ts";
import { terminal, type Paint } from "../Terminal.ts";

export const help = `Usage: fleet status [flags] FILE…

Rollout status of the World the fleet files declare, from what devices report:
per deployment, the devices it matches, and how many of them run its current
spec (succeeded; healthy, when the spec declares a health check), failed, are
pending or offline, and (when any) how many run it unhealthy, with the latest
error; for a deployment rolled out in waves, its rollout: the current wave,
each wave's targeted / updated / succeeded / failed / pending / offline
devices and gate (open, waiting, passed, failed, timed out), and the budget in
use.

Flags:
  --device ID                   the status of one device, per deployment
  --json                        print JSON lines (docs/cli.md) instead of a table
  --no-typecheck                do not type-check the fleet files first (faster)
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
${loadTimeoutHelp}
  -h, --help                    show this help

${backendHelp}

Exit codes: 0 success, 1 error.`;

/** "12s ago", "5m ago", "3h ago", "2d ago". */
export const ago = (at: Date, now: Date): string => {
  const s = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
};

const presenceText = (d: DeviceStatus, now: Date): string => {
  const hb = d.lastHeartbeat === undefined ? "" : `, last heartbeat ${ago(d.lastHeartbeat, now)}`;
  return `${d.presence === "unregistered" ? "not registered" : d.presence}${hb}`;
};

const stateText = (s: string, p: Paint): string =>
  s === "Running" ? p.green(s) : s === "Failed" || s === "Rejected" ? p.red(s) : s === "Offline" ? p.yellow(s) : s;

const fleetTable = (st: FleetStatus, now: Date, p: Paint): ReadonlyArray<string> => {
  if (st.deployments.length === 0) return ["No deployment is assigned to any device."];
  // The column appears only when some device runs a spec unhealthy: tables of fleets without health checks stay as they were.
  const anyUnhealthy = st.deployments.some((d) => d.unhealthy > 0);
  const rows = st.deployments.map((d) => [
    d.deployment,
    String(d.matched),
    String(d.succeeded),
    String(d.failed),
    String(d.pending),
    String(d.offline),
    ...(anyUnhealthy ? [String(d.unhealthy)] : []),
    d.lastError === undefined ? "" : `${d.lastError.device}: ${d.lastError.error} (${ago(d.lastError.at, now)})`,
  ]);
  const online = st.devices.filter((d) => d.presence === "online").length;
  const offline = st.devices.filter((d) => d.presence === "offline").length;
  const unregistered = st.devices.length - online - offline;
  const leftAlone = st.devices.filter((d) => d.leftAlone !== undefined);
  return [
    ...table(["DEPLOYMENT", "MATCHED", "SUCCEEDED", "FAILED", "PENDING", "OFFLINE", ...(anyUnhealthy ? ["UNHEALTHY"] : []), "LAST ERROR"], rows, {
      numeric: anyUnhealthy ? [1, 2, 3, 4, 5, 6] : [1, 2, 3, 4, 5],
      paint: p,
    }),
    "",
    ...(st.rollouts ?? []).flatMap((r) => [...rolloutTable(r, p), ""]),
    `Devices: ${st.devices.length} (${online} online, ${offline} offline, ${unregistered} not registered)`,
    ...(leftAlone.length === 0
      ? []
      : [`${p.yellow(`Left alone: ${leftAlone.length}`)} (the diff does not touch them; they count for no deployment)`, ...leftAlone.map((d) => `  ${d.device}: ${d.leftAlone ?? ""}`)]),
  ];
};

const gateText = (g: GateState, p: Paint): string => (g === "passed" ? p.green(g) : g === "open" ? p.yellow(g) : g === "waiting" ? g : p.red(g));

/** A staged rollout: its state line, then per wave its counts and gate, then the budget and why it stopped. */
export const rolloutTable = (r: RolloutProgress, p: Paint): ReadonlyArray<string> => {
  const [head, ...rest] = rolloutLines(r, p);
  const rows = r.waves.map((w) => [
    String(w.index + 1),
    w.definition,
    gateText(w.gate, p),
    String(w.targeted),
    String(w.updated),
    String(w.succeeded),
    String(w.failed),
    String(w.pending),
    String(w.offline),
  ]);
  return [
    `Rollout ${(head ?? "").trim().replace(/^# /, "")}`,
    ...table(["WAVE", "DEVICES", "GATE", "TARGETED", "UPDATED", "SUCCEEDED", "FAILED", "PENDING", "OFFLINE"], rows, { numeric: [0, 3, 4, 5, 6, 7, 8], paint: p }),
    ...rest.filter((l) => !/^\s*wave \d/.test(l)).map((l) => l.replace(/^ {4}/, "  ")),
  ];
};

const deviceTable = (d: DeviceStatus, now: Date, p: Paint): ReadonlyArray<string> => {
  const head = `${p.bold(`Device ${d.device}`)}: ${presenceText(d, now)}`;
  if (d.leftAlone !== undefined) return [head, "", `The diff leaves this device exactly as it is: ${d.leftAlone}.`];
  if (d.deployments.length === 0) return [head, "", "The World gives this device no deployment."];
  const rows = d.deployments.map((x) => [
    x.deployment,
    x.health === undefined ? stateText(x.state, p) : x.health === "unhealthy" ? p.red(`${x.state} (unhealthy)`) : `${stateText(x.state, p)} (${x.health})`,
    shortHash(x.specHash),
    x.publishedHash === undefined ? "-" : shortHash(x.publishedHash),
    x.observedHash === undefined ? "-" : shortHash(x.observedHash),
    x.at === undefined ? "" : ago(x.at, now),
    x.error ?? "",
  ]);
  return [head, "", ...table(["DEPLOYMENT", "STATE", "SPEC", "PUBLISHED", "OBSERVED", "REPORTED", "ERROR"], rows, { paint: p })];
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("status", argv, {
    ...backendFlags,
    help: { type: "boolean", short: "h" },
    json: { type: "boolean" },
    device: { type: "string" },
    "no-typecheck": { type: "boolean" },
    "offline-after": { type: "string" },
    ...loadTimeoutFlag,
  });
  expectPositionals("status", positionals, 1, Infinity, "fleet file (fleet status FILE…)");
  const config = orUsage("status", backendConfig(values));
  const device = values.device === undefined ? undefined : orUsage("status", parseDeviceArg("--device", values.device));
  const offline = offlineAfterOf("status", values);
  const json = values.json === true;
  if (values["no-typecheck"] !== true) await checkTypes(positionals, t, false);
  return withBackend(config, t, async (b) => {
    const now = new Date();
    const report = await fleetStatus(b.interpreter, fleetFilesWorld(positionals, loadTimeoutOf("status", values)), { now, ...offline });
    reportProblems(report.problems, t, json);
    if (device !== undefined) {
      const d = deviceStatus(report, device);
      if (E.isLeft(d))
        throw new CliError(
          `no status for device ${device}: ${d.left._tag === "Damaged" ? `its records cannot be read (${d.left.reason})` : "it is not in the fleet (neither declared nor registered)"}`,
        );
      if (json) t.out(J.deviceStatus(d.right));
      else for (const l of deviceTable(d.right, now, t.o)) t.out(l);
      return ExitCode.Ok;
    }
    const status = report.status;
    await t.outLines(
      json
        ? (function* () {
            for (const d of status.deployments) yield J.deploymentStatus(d);
            for (const r of status.rollouts ?? []) yield J.rolloutStatus(r);
            for (const d of status.devices) yield J.deviceStatus(d);
            yield J.statusSummary(status);
          })()
        : fleetTable(status, now, t.o),
    );
    return ExitCode.Ok;
  });
};
