/**
 * `fleet sim`: N simulated devices in one process, each a real agent on a
 * simulated runtime, sharing one NATS connection. For demos, load tests and
 * benchmarks of the whole loop; deterministic for a given `--seed`.
 */
import { parseFlags, orUsage, wantsHelp, type Options } from "../Args.ts";
import { UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { decodeNatsTimeout, natsFlags } from "../backends.ts";
import { logLine, natsReplicas, natsSettings, parseMillis, parseNonNegativeInt, parseProbability, untilSignal } from "./agent.ts";
import { parseLabelsArg } from "../Args.ts";
import * as E from "fp-ts/lib/Either.js";
import { formatSelectorError, parseSelector, type SelectorError } from "../../selectors/Parse.ts";

export const help = `Usage: fleet sim --devices N --nats URL[,URL] [flags]

Runs N simulated devices (ids <prefix>-0000, <prefix>-0001, ...), each a real
agent (registration, heartbeats, watch, reports) driving a simulated runtime
that takes --latency to start a deployment and fails a start with probability
--fail-rate, decided by --seed. A running spec that declares a health check
reports unhealthy on a fraction --unhealthy-rate of (device, spec) pairs,
healthy on the rest. Devices matching --fail-devices fail every spec other
than the first they ran for a deployment (a bad new version; the old one, and
a rollback to it, keep working). All share one NATS connection. Prints a
summary of reported states every few seconds; stops on SIGTERM or SIGINT.

Flags:
  --devices N                 how many devices (1..100000)                    (required)
  --nats URL[,URL]            NATS servers (env FLEET_NATS_URL)               (required)
  --prefix NAME               device id prefix (default sim)
  --labels k=v[,k=v...]       labels of every simulated device
  --arch ARCH                 their architecture (default x86_64)
  --latency MS                time to start a deployment (default 20)
  --fail-rate P               probability a start fails, 0..1 (default 0)
  --unhealthy-rate P          fraction of (device, spec) pairs whose health check
                              reports unhealthy, 0..1 (default 0)
  --fail-devices SELECTOR     devices (a selector, e.g. '@id in (sim-0000, sim-0001)'
                              or 'env=canary') that fail every new spec
  --fail-image SUBSTRING      with --fail-devices: only specs with an image containing it
  --seed N                    seed of failures and jitter (default 0)
  --heartbeat-interval MS     between heartbeats of each device (default 10s)
  --nats-timeout DURATION     how long one JetStream request may take before it is retried (default 10s)
  --nats-creds FILE  --nats-token TOKEN  --nats-user USER --nats-pass PASS
  --nats-tls-ca FILE  --nats-tls-cert FILE  --nats-tls-key FILE
  --replicas N                buckets created with N replicas (3 on a three-server cluster);
                              an existing bucket with another count is an error
  -h, --help

Example:
  fleet sim --devices 1000 --nats nats://127.0.0.1:4222 --labels env=prod --fail-rate 0.01 --seed 7`;

const flags = {
  ...natsFlags,
  devices: { type: "string" },
  prefix: { type: "string" },
  labels: { type: "string" },
  arch: { type: "string" },
  latency: { type: "string" },
  "fail-rate": { type: "string" },
  "unhealthy-rate": { type: "string" },
  "fail-devices": { type: "string" },
  "fail-image": { type: "string" },
  seed: { type: "string" },
  "heartbeat-interval": { type: "string" },
  "nats-timeout": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  if (wantsHelp(argv)) {
    process.stdout.write(`${help}\n`);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("sim", argv, flags);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see 'fleet sim --help')`);
  if (values.devices === undefined) throw new UsageError("--devices N is required (see 'fleet sim --help')");
  const devices = orUsage("sim", parseNonNegativeInt("--devices", values.devices, 100_000));
  if (devices < 1) throw new UsageError("--devices: at least 1 (see 'fleet sim --help')");
  const opt = <A>(text: string | undefined, decode: (t: string) => A): A | undefined => (text === undefined ? undefined : decode(text));
  const labels = opt(values.labels, (t) => orUsage("sim", parseLabelsArg("--labels", t)));
  const latencyMs = opt(values.latency, (t) => orUsage("sim", parseMillis("--latency", t)));
  const failRate = opt(values["fail-rate"], (t) => orUsage("sim", parseProbability("--fail-rate", t)));
  const unhealthyRate = opt(values["unhealthy-rate"], (t) => orUsage("sim", parseProbability("--unhealthy-rate", t)));
  const failDevices = opt(values["fail-devices"], (t) =>
    orUsage(
      "sim",
      E.mapLeft((e: SelectorError) => `--fail-devices: ${formatSelectorError(e)}`)(parseSelector(t)),
    ),
  );
  const failImage = values["fail-image"];
  if (failImage !== undefined && failDevices === undefined) throw new UsageError("--fail-image needs --fail-devices SELECTOR (see 'fleet sim --help')");
  if (failImage !== undefined && failImage.trim() === "") throw new UsageError("--fail-image: expected part of an image name, got an empty string");
  const seed = opt(values.seed, (t) => orUsage("sim", parseNonNegativeInt("--seed", t)));
  const heartbeatIntervalMs = opt(values["heartbeat-interval"], (t) => orUsage("sim", parseMillis("--heartbeat-interval", t)));
  const apiTimeoutMs = orUsage("sim", decodeNatsTimeout(values["nats-timeout"]));
  const prefix = values.prefix ?? "sim";
  const settings = natsSettings("sim", values, process.env, `fleet-sim ${prefix}`);
  const replicas = natsReplicas("sim", values);

  const { runSimulation, simulatedDevices } = await import("../../interpreters/nats/Simulation.ts");
  // Validate ids, labels and arch before connecting.
  const check = simulatedDevices({ devices: 1, prefix, ...(labels !== undefined ? { labels } : {}), ...(values.arch !== undefined ? { arch: values.arch } : {}) });
  if (check._tag === "Left") {
    const { formatDeviceError } = await import("../../algebra/Device.ts");
    throw new UsageError(`${formatDeviceError(check.left)} (see 'fleet sim --help')`);
  }

  const states = new Map<string, string>();
  const signals = untilSignal();
  try {
    logLine(`sim: starting ${devices} devices (${prefix}-…) against ${settings.servers.toString()}`);
    const started = Date.now();
    const starting = runSimulation({
      devices,
      nats: settings,
      prefix,
      log: logLine,
      onReport: (d, n, s) => states.set(`${d}.${n}`, s.phase === "Running" && s.health !== undefined && s.health !== "healthy" ? `Running ${s.health}` : s.phase),
      ...(labels !== undefined ? { labels } : {}),
      ...(values.arch !== undefined ? { arch: values.arch } : {}),
      ...(latencyMs !== undefined ? { latencyMs } : {}),
      ...(failRate !== undefined ? { failRate } : {}),
      ...(unhealthyRate !== undefined ? { unhealthyRate } : {}),
      ...(failDevices !== undefined ? { failDevices } : {}),
      ...(failImage !== undefined ? { failImage } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}),
      ...(apiTimeoutMs !== undefined ? { apiTimeoutMs } : {}),
      ...(replicas !== undefined ? { replicas } : {}),
    });
    const first = await Promise.race([starting.then((s) => ({ _tag: "sim" as const, s })), signals.signalled.then((s) => ({ _tag: "signal" as const, s }))]);
    if (first._tag === "signal") {
      logLine(`sim: ${first.s} while starting; exiting`);
      void starting.then((s) => s.stop(), () => undefined);
      return ExitCode.Ok;
    }
    const sim = first.s;
    logLine(`sim: ${devices} devices running (${Date.now() - started} ms to start)`);
    let last = "";
    const summary = setInterval(() => {
      const count = { Pending: 0, Running: 0, Failed: 0, Rejected: 0, "Running unhealthy": 0, "Running starting": 0 } as Record<string, number>;
      for (const p of states.values()) count[p] = (count[p] ?? 0) + 1;
      const unhealthy = count["Running unhealthy"] ?? 0;
      const starting = count["Running starting"] ?? 0;
      // Running counts only the healthy (or unchecked); started but unhealthy or not yet checked is shown apart.
      const line =
        `sim: ${states.size} deployments reported: ${count["Running"]} running, ${count["Pending"]} pending, ${count["Failed"]} failed` +
        `${unhealthy === 0 ? "" : `, ${unhealthy} unhealthy`}${starting === 0 ? "" : `, ${starting} starting`}${count["Rejected"] === 0 ? "" : `, ${count["Rejected"]} rejected`}`;
      if (line !== last) logLine(line);
      last = line;
    }, 5_000);
    const signal = await signals.signalled;
    clearInterval(summary);
    logLine(`sim: ${signal}; stopping`);
    await sim.stop();
    return ExitCode.Ok;
  } finally {
    signals.dispose();
  }
};
