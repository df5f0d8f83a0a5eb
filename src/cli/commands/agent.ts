/**
 * `fleet agent`: the device agent. Registers the device, heartbeats, watches
 * its own desired entries in NATS and runs them through a runtime (podman, or
 * the simulated one), reporting each deployment's state. Runs until SIGTERM or
 * SIGINT, then stops cleanly (the runtime keeps running what it runs).
 *
 * Flag values are decoded before anything connects; a bad flag is one line
 * and exit code 1.
 */
import * as os from "node:os";
import * as E from "fp-ts/lib/Either.js";
import { parseDevice, formatDeviceError, type Device } from "../../algebra/Device.ts";
import type { Runtime } from "../../interpreters/Runtime.ts";
import type { ConnectionSettings } from "../../interpreters/nats/Connection.ts";
import { orUsage, parseChoice, parseDuration, parseFlags, parseLabelsArg, wantsHelp, type Options } from "../Args.ts";
import { resolve } from "node:path";
import { CliError, UsageError } from "../CliError.ts";
import { AcceptedFileError } from "../../interpreters/nats/AcceptedFile.ts";
import { loadTrustStore } from "../TrustFiles.ts";
import { decodeNatsFlags, decodeNatsTimeout, decodeReplicas, natsFlags, type NatsFlagValues } from "../backends.ts";
import { ExitCode } from "../Command.ts";
import { VERSION } from "../Version.ts";

/** Relative to where the agent starts; a service sets --state-dir /var/lib/fleet-agent. */
const DEFAULT_STATE_DIR = ".fleet-agent";

export const help = `Usage: fleet agent --device-id ID --nats URL[,URL] [flags]

Runs the device agent: registers this device in NATS (device-info), heartbeats
(device-heartbeat), watches its desired entries (desired-state <ID>.*), runs
them with the runtime and reports each deployment's state (device-state:
Pending, then Running or Failed with the error). Survives NATS restarts
(reconnects and re-reads everything); stops on SIGTERM or SIGINT. A second
agent started with the same --device-id is logged by both, and reported by
'fleet status' and 'fleet plan'.

Flags:
  --device-id ID              this device (RFC 1123 DNS label)                (required)
  --nats URL[,URL]            NATS servers (env FLEET_NATS_URL)               (required)
  --labels k=v[,k=v...]       the device's labels
  --arch ARCH                 CPU architecture (default: this host's, e.g. x86_64, aarch64)
  --runtime podman|simulated  what runs the deployments (default podman)
  --podman-socket PATH        podman API socket (default $CONTAINER_HOST or /run/podman/podman.sock)
  --trust FILE                verify every desired entry against the keys of this trust file
                              (fleet keys); refused entries are reported Rejected, never run
  --state-dir DIR             with --trust: where the highest accepted revision per entry is kept
                              across restarts (default .fleet-agent; a damaged file refuses the start)
  --heartbeat-interval MS     between heartbeats: milliseconds, or with a unit (500ms, 10s); default 10s
  --nats-timeout DURATION     how long one JetStream request (a read of its entries, a snapshot)
                              may take before it is retried; default 10s
  --latency MS                simulated runtime: time to start a deployment (default 20)
  --fail-rate P               simulated runtime: probability a start fails, 0..1 (default 0)
  --seed N                    simulated runtime: seed of its failures (default 0)
  --nats-creds FILE           NATS credentials file
  --scoped                    the creds are this device's own (fleet credentials issue): replies on
                              _INBOX_<ID>, no stream management (the buckets must exist)
  --nats-token TOKEN          NATS token (env FLEET_NATS_TOKEN)
  --nats-user USER --nats-pass PASS
  --nats-tls-ca FILE  --nats-tls-cert FILE  --nats-tls-key FILE
  --replicas N                buckets created with N replicas (3 on a three-server cluster);
                              an existing bucket with another count is an error
  -h, --help

Example:
  fleet agent --device-id pi-01 --nats nats://10.0.0.2:4222 --labels env=prod,site=north`;


const flags = {
  ...natsFlags,
  scoped: { type: "boolean" },
  "device-id": { type: "string" },
  labels: { type: "string" },
  arch: { type: "string" },
  runtime: { type: "string" },
  "podman-socket": { type: "string" },
  trust: { type: "string" },
  "state-dir": { type: "string" },
  "heartbeat-interval": { type: "string" },
  "nats-timeout": { type: "string" },
  latency: { type: "string" },
  "fail-rate": { type: "string" },
  seed: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;


// -------------------------------------------------------------------------------------
// flag decoders (pure; shared with `fleet sim`)
// -------------------------------------------------------------------------------------

/** Milliseconds: a bare integer is milliseconds; `500ms`, `10s`, `1m` are also accepted. */
export const parseMillis = (flag: string, text: string): E.Either<string, number> => {
  if (/^\d{1,9}$/.test(text.trim())) {
    const n = Number(text.trim());
    return n >= 1 ? E.right(n) : E.left(`${flag}: must be at least 1 ms`);
  }
  const d = parseDuration(flag, text);
  return E.isRight(d) && d.right < 1 ? E.left(`${flag}: must be at least 1 ms`) : d;
};

export const parseProbability = (flag: string, text: string): E.Either<string, number> => {
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) && n >= 0 && n <= 1 ? E.right(n) : E.left(`${flag}: expected a probability between 0 and 1, got ${JSON.stringify(text)}`);
};

export const parseNonNegativeInt = (flag: string, text: string, max = 2 ** 31 - 1): E.Either<string, number> =>
  /^\d{1,10}$/.test(text.trim()) && Number(text) <= max ? E.right(Number(text)) : E.left(`${flag}: expected a whole number between 0 and ${max}, got ${JSON.stringify(text)}`);

/** `uname -m` names for Node's `os.arch()`. */
export const hostArch = (): string => {
  const a = os.arch();
  return a === "x64" ? "x86_64" : a === "arm64" ? "aarch64" : a === "arm" ? "armv7l" : a === "ia32" ? "i686" : a;
};

/** NATS connection settings from the shared backend flags; a usage error names the command. */
export const natsSettings = (command: string, values: NatsFlagValues, env: NodeJS.ProcessEnv, name: string): ConnectionSettings => {
  const decoded = decodeNatsFlags(values, env);
  if (E.isLeft(decoded)) throw new UsageError(`${decoded.left} (see 'fleet ${command} --help')`);
  return { ...decoded.right, servers: [...decoded.right.servers], name };
};

/** `--replicas N` of the buckets a command creates, or undefined; a usage error names the command. */
export const natsReplicas = (command: string, values: NatsFlagValues): number | undefined => orUsage(command, decodeReplicas(values));

/** Resolves on the first SIGTERM or SIGINT; the handlers are removed by `dispose`. */
export const untilSignal = (): { readonly signalled: Promise<NodeJS.Signals>; dispose(): void } => {
  let resolve: (s: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const onTerm = (): void => resolve("SIGTERM");
  const onInt = (): void => resolve("SIGINT");
  process.once("SIGTERM", onTerm);
  process.once("SIGINT", onInt);
  return {
    signalled,
    dispose: () => {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
    },
  };
};

export const logLine = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
};

// -------------------------------------------------------------------------------------
// command
// -------------------------------------------------------------------------------------

const loadRuntime = async (kind: "podman" | "simulated", values: { readonly [K in keyof typeof flags]?: string | boolean }, device: Device): Promise<Runtime> => {
  const str = (k: keyof typeof flags): string | undefined => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  if (kind === "simulated") {
    const { simulatedRuntime } = await import("../../interpreters/simulated/index.ts");
    const latency = str("latency");
    const failRate = str("fail-rate");
    const seed = str("seed");
    return simulatedRuntime({
      name: device.id,
      ...(latency !== undefined ? { latencyMs: orUsage("agent", parseMillis("--latency", latency)) } : {}),
      ...(failRate !== undefined ? { failRate: orUsage("agent", parseProbability("--fail-rate", failRate)) } : {}),
      ...(seed !== undefined ? { seed: orUsage("agent", parseNonNegativeInt("--seed", seed)) } : {}),
    });
  }
  for (const k of ["latency", "fail-rate", "seed"] as const)
    if (str(k) !== undefined) throw new UsageError(`--${k} is for --runtime simulated (see 'fleet agent --help')`);
  // Loaded only when chosen: a simulated agent never loads the podman client.
  const { podmanRuntime } = await import("../../interpreters/podman/index.ts");
  const socket = str("podman-socket");
  return podmanRuntime(socket !== undefined ? { socket } : {});
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  if (wantsHelp(argv)) {
    process.stdout.write(`${help}\n`);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("agent", argv, flags);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see 'fleet agent --help')`);
  const id = values["device-id"];
  if (id === undefined) throw new UsageError("--device-id ID is required (see 'fleet agent --help')");
  const labels = values.labels !== undefined ? orUsage("agent", parseLabelsArg("--labels", values.labels)) : {};
  const device = parseDevice(id, {
    labels,
    arch: values.arch ?? hostArch(),
    agentVersion: VERSION,
    inventory: {
      hostname: os.hostname(),
      os: `${os.type()} ${os.release()}`,
      platform: os.platform(),
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      node: process.version,
    },
  });
  if (E.isLeft(device)) throw new UsageError(`${formatDeviceError(device.left)} (see 'fleet agent --help')`);
  const kind = orUsage("agent", parseChoice("--runtime", ["podman", "simulated"] as const, values.runtime ?? "podman"));
  const heartbeatIntervalMs =
    values["heartbeat-interval"] !== undefined ? orUsage("agent", parseMillis("--heartbeat-interval", values["heartbeat-interval"])) : 10_000;
  const apiTimeoutMs = orUsage("agent", decodeNatsTimeout(values["nats-timeout"]));
  const scoped = values.scoped === true;
  const settings: ConnectionSettings = {
    ...natsSettings("agent", values, process.env, `fleet-agent ${device.right.id}`),
    ...(scoped ? { scopedTo: device.right.id } : {}),
  };
  const replicas = natsReplicas("agent", values);
  if (scoped && replicas !== undefined) throw new UsageError("--replicas creates buckets, which --scoped credentials may not (see 'fleet agent --help')");
  if (values["state-dir"] !== undefined && values.trust === undefined) throw new UsageError("--state-dir is for --trust (see 'fleet agent --help')");
  const trust = values.trust === undefined ? undefined : await loadTrustStore(values.trust);
  const stateDir = resolve(values["state-dir"] ?? DEFAULT_STATE_DIR);

  const signals = untilSignal();
  try {
    const runtime = await loadRuntime(kind, values, device.right);
    try {
      const { runAgent } = await import("../../interpreters/nats/agent.ts");
      logLine(`agent ${device.right.id}: connecting to ${settings.servers.toString()} (runtime ${runtime.name})`);
      // The agent opens its buckets without settings: with --replicas, create them (or check their count) first.
      const buckets = replicas === undefined
        ? Promise.resolve()
        : import("../../interpreters/nats/Buckets.ts").then(({ ensureFleetBuckets }) => ensureFleetBuckets(settings, { replicas }, { waitOnFirstConnect: true }));
      if (trust !== undefined) logLine(`agent ${device.right.id}: verifying signatures (${trust.keys.size} keys); accepted revisions in ${stateDir}`);
      const starting = buckets
        .then(() =>
          runAgent({
            device: device.right,
            runtime,
            nats: settings,
            heartbeatIntervalMs,
            ...(apiTimeoutMs !== undefined ? { apiTimeoutMs } : {}),
            log: logLine,
            ...(trust !== undefined ? { trust, stateDir } : {}),
          }),
        )
        .catch((e: unknown) => {
          if (e instanceof AcceptedFileError) throw new CliError(e.message);
          throw e;
        });
      const first = await Promise.race([starting.then((a) => ({ _tag: "agent" as const, a })), signals.signalled.then((s) => ({ _tag: "signal" as const, s }))]);
      if (first._tag === "signal") {
        logLine(`agent ${device.right.id}: ${first.s} before connecting; exiting`);
        void starting.then((a) => a.stop(), () => undefined);
        return ExitCode.Ok;
      }
      const agent = first.a;
      logLine(`agent ${device.right.id}: running (instance ${agent.instance})`);
      const signal = await signals.signalled;
      logLine(`agent ${device.right.id}: ${signal}; stopping`);
      await agent.stop();
      return ExitCode.Ok;
    } finally {
      await runtime.close();
    }
  } finally {
    signals.dispose();
  }
};
