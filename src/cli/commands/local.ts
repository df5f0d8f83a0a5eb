/**
 * `fleet local …`: the device side of the local backend, SIMULATED. No agent
 * runs against a state directory, so for demos and tests this plays every
 * agent once: devices register and heartbeat, and report the deployments
 * published for them as Running (or Failed, on request). It never changes
 * desired state, and it says it is a simulation in everything it prints.
 *
 * - `fleet local simulate [FILE…]`: one round of every agent;
 * - `fleet local info`: the state file's serial and lineage, and the lock.
 */
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../../algebra/Device.ts";
import { entryKey, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import type { ObservedState, ReportedDevice } from "../../diff/Reality.ts";
import { declarations } from "../../world/World.ts";
import * as O from "fp-ts/lib/Option.js";
import { orUsage, parseDeviceArg, parseEntryKey, parseFlags, wantsHelp, expectPositionals } from "../Args.ts";
import { backendConfig, openBackend } from "../backends.ts";
import { CliError, UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { loadFleetFiles } from "../FleetFile.ts";
import { inventoryOf } from "../Inputs.ts";
import { terminal } from "../Terminal.ts";
import { describeLockState } from "./force-unlock.ts";

export const help = `Usage: fleet local simulate [flags] [FILE…]
       fleet local info [flags]

SIMULATION for the local backend, where no real agent runs: \`simulate\` plays
every device's agent once. Devices the fleet files declare (and devices already
registered) register with a heartbeat now, and report each deployment published
for them as Running at its published spec. Desired state is never changed.

  simulate flags:
    --fail DEVICE.DEPLOYMENT[=MESSAGE]  report this deployment as Failed (repeatable)
    --offline DEVICE                    this device sends no heartbeat and reports nothing (repeatable)
  info: prints the state's serial and lineage, and who holds the lock.

Flags:
  --state-dir DIR          the state directory (env FLEET_STATE_DIR, default .fleet)
  --lock-timeout DURATION  retry a held lock this long (default 0)
  -h, --help               show this help

Exit codes: 0 success, 1 error.`;

const flags = {
  help: { type: "boolean", short: "h" },
  "state-dir": { type: "string" },
  "lock-timeout": { type: "string" },
  fail: { type: "string", multiple: true },
  offline: { type: "string", multiple: true },
} as const;

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const [sub, ...rest] = argv;
  if (sub !== "simulate" && sub !== "info")
    throw new UsageError(sub === undefined ? "missing subcommand: simulate or info (see 'fleet local --help')" : `unknown subcommand ${JSON.stringify(sub)} of fleet local (see 'fleet local --help')`);
  const { values, positionals } = parseFlags("local", rest, flags);
  const config = orUsage("local", backendConfig({ backend: "local", ...(values["state-dir"] !== undefined ? { "state-dir": values["state-dir"] } : {}), ...(values["lock-timeout"] !== undefined ? { "lock-timeout": values["lock-timeout"] } : {}) }));
  const { local } = await openBackend(config, { onLockWait: (holder) => t.err(`Waiting for the state lock, held by ${holder}...`) });
  if (local === undefined) throw new CliError("internal: the local backend did not open as local");

  if (sub === "info") {
    expectPositionals("local", positionals, 0, 0, "");
    if (values.fail !== undefined || values.offline !== undefined) throw new UsageError("--fail and --offline are flags of fleet local simulate");
    const info = await local.info();
    t.out(`State:   ${local.stateDir}/state.records (${info.serial === 0 ? "none yet" : `serial ${info.serial}, lineage ${info.lineage}`})`);
    t.out(`Lock:    ${describeLockState(await local.lockState())}`);
    return ExitCode.Ok;
  }

  const fails = new Map<string, string>();
  for (const f of values.fail ?? []) {
    const k = orUsage("local", parseEntryKey("--fail", f));
    fails.set(entryKey(k.device, k.deployment), k.message ?? "simulated failure");
  }
  const offline = new Set<DeviceId>((values.offline ?? []).map((d) => orUsage("local", parseDeviceArg("--offline", d))));

  const { reality } = await local.read();
  const declared: ReadonlyArray<Device> =
    positionals.length === 0 ? [] : O.getOrElse((): ReadonlyArray<Device> => [])(declarations((await loadFleetFiles(positionals, inventoryOf(reality))).world));
  if (declared.length === 0 && reality.devices.size === 0)
    throw new CliError("nothing to simulate: no device is registered and no fleet file declares one (pass the fleet files that declare the devices)");
  const now = new Date();
  let registered = 0;
  let running = 0;
  let failed = 0;
  const unknownFails = new Set(fails.keys());
  await local.simulate("local simulate", (r) => {
    const devices = new Map<DeviceId, ReportedDevice>(r.devices);
    // A declared device registers as declared; one declared twice (a conflict) registers once, as first declared.
    const seen = new Set<DeviceId>();
    for (const d of declared) {
      if (seen.has(d.id)) continue;
      seen.add(d.id);
      const prev = devices.get(d.id);
      devices.set(d.id, offline.has(d.id) ? { device: d, ...(prev?.lastHeartbeat !== undefined ? { lastHeartbeat: prev.lastHeartbeat } : {}) } : { device: d, lastHeartbeat: now });
    }
    for (const [id, rd] of devices) if (!offline.has(id) && !seen.has(id)) devices.set(id, { ...rd, lastHeartbeat: now });
    const observed = new Map<DeviceId, ReadonlyMap<DeploymentName, ObservedState>>(r.observed);
    for (const id of devices.keys()) {
      if (offline.has(id)) continue;
      registered++;
      const mine = new Map<DeploymentName, ObservedState>();
      for (const e of r.desired.get(id)?.values() ?? []) {
        const key = entryKey(id, e.deployment);
        const error = fails.get(key);
        unknownFails.delete(key);
        if (error !== undefined) failed++;
        else running++;
        mine.set(e.deployment, {
          device: id,
          deployment: e.deployment,
          phase: error === undefined ? "Running" : "Failed",
          specHash: e.specHash,
          ...(error !== undefined ? { error } : {}),
          at: now,
        });
      }
      // The agent runs exactly what is published: anything else it stopped.
      if (mine.size === 0) observed.delete(id);
      else observed.set(id, mine);
    }
    return { devices, observed };
  });
  for (const k of [...unknownFails].sort(S.Ord.compare)) t.err(`${t.e.yellow("Warning:")} --fail ${k}: nothing is published under that key`);
  t.out(
    `${t.o.yellow("Simulated")} agents on the local backend (no real device was contacted): ${registered} device${registered === 1 ? "" : "s"} online${offline.size > 0 ? `, ${offline.size} offline` : ""}; reported ${running} Running, ${failed} Failed.`,
  );
  return ExitCode.Ok;
};
