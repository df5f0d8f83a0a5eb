/**
 * Which backend a command talks to: the flags and environment variables that
 * choose and configure it, decoded into a `BackendConfig` (pure, so it can be
 * fuzzed), and the one place that turns a config into an `Interpreter`.
 *
 * Each interpreter module is loaded by a dynamic import only when chosen, so
 * `fleet plan` on the local backend never loads a NATS or Kubernetes client.
 * A flag meant for another backend than the chosen one is an error, not
 * silently ignored.
 */
import { resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { Interpreter } from "../interpreters/Interpreter.ts";
import type { LocalInterpreter } from "../interpreters/local/index.ts";
import type { NatsInterpreter } from "../interpreters/nats/index.ts";
import type { ConnectionSettings } from "../interpreters/nats/Connection.ts";
import { parseChoice, parseDuration, parseLabelsArg, type Options } from "./Args.ts";
import { isArch } from "../algebra/Device.ts";
import { VERSION } from "./Version.ts";
import { processReleases } from "./Exit.ts";

export const BACKENDS = ["local", "nats", "kube", "podman"] as const;
export type BackendName = (typeof BACKENDS)[number];

const opt = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [key]: v } as { [P in K]?: V }));

/** How to reach NATS: the backend's flags, also taken by `fleet agent` and `fleet sim`. */
export const natsFlags = {
  nats: { type: "string" },
  "nats-creds": { type: "string" },
  "nats-token": { type: "string" },
  "nats-user": { type: "string" },
  "nats-pass": { type: "string" },
  "nats-tls-ca": { type: "string" },
  "nats-tls-cert": { type: "string" },
  "nats-tls-key": { type: "string" },
  replicas: { type: "string" },
} as const satisfies Options;

export type NatsFlagValues = { readonly [K in keyof typeof natsFlags]?: string };

/** The connection settings the flags give (the client name is the command's to choose), servers as a list. */
export type NatsFlagSettings = Omit<ConnectionSettings, "servers" | "name"> & { readonly servers: ReadonlyArray<string> };

/** `--replicas N` (JetStream allows 1 to 5), or undefined when not given. */
export const decodeReplicas = (values: NatsFlagValues): E.Either<string, number | undefined> => {
  const text = values.replicas;
  if (text === undefined) return E.right(undefined);
  return /^[1-5]$/.test(text.trim()) ? E.right(Number(text.trim())) : E.left(`--replicas: expected 1 to 5 (3 on a three-server cluster), got ${JSON.stringify(text)}`);
};

/** Decodes the NATS flags (and FLEET_NATS_URL / FLEET_NATS_TOKEN), or says what is wrong. */
export const decodeNatsFlags = (values: NatsFlagValues, env: Readonly<Record<string, string | undefined>>): E.Either<string, NatsFlagSettings> => {
  const urls = values.nats ?? env["FLEET_NATS_URL"];
  if (urls === undefined || urls.trim() === "") return E.left("--nats URL is required (or FLEET_NATS_URL)");
  const servers = urls.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (servers.length === 0) return E.left(`--nats: no server URL in ${JSON.stringify(urls)}`);
  const bad = servers.find((s) => !/^(nats|tls|wss?):\/\/[^\s]+$|^[A-Za-z0-9.[\]:-]+(:\d+)?$/.test(s));
  if (bad !== undefined) return E.left(`--nats: ${JSON.stringify(bad)} is not a server URL (e.g. nats://host:4222)`);
  const token = values["nats-token"] ?? (env["FLEET_NATS_TOKEN"] !== "" ? env["FLEET_NATS_TOKEN"] : undefined);
  const tls = {
    ...opt("caFile", values["nats-tls-ca"]),
    ...opt("certFile", values["nats-tls-cert"]),
    ...opt("keyFile", values["nats-tls-key"]),
  };
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) return E.left("--nats-tls-cert and --nats-tls-key go together");
  if ((values["nats-user"] === undefined) !== (values["nats-pass"] === undefined)) return E.left("--nats-user and --nats-pass go together");
  return E.right({
    servers,
    ...opt("credsFile", values["nats-creds"]),
    ...opt("token", token),
    ...opt("user", values["nats-user"]),
    ...opt("pass", values["nats-pass"]),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  });
};

/** `--nats-timeout DURATION`: one JetStream API request's limit, over 0; undefined when not given (the default, 10 s). */
export const decodeNatsTimeout = (text: string | undefined): E.Either<string, number | undefined> => {
  if (text === undefined) return E.right(undefined);
  const d = parseDuration("--nats-timeout", text);
  return E.isRight(d) && d.right === 0 ? E.left("--nats-timeout: must be more than 0") : d;
};

/** Flags every backend-using command accepts. */
export const backendFlags = {
  backend: { type: "string" },
  "state-dir": { type: "string" },
  "lock-timeout": { type: "string" },
  ...natsFlags,
  "nats-timeout": { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
  "force-conflicts": { type: "boolean" },
  "podman-socket": { type: "string" },
  "device-id": { type: "string" },
  "device-labels": { type: "string" },
  "device-arch": { type: "string" },
} as const satisfies Options;

export const backendHelp = `Backend (default local; env FLEET_BACKEND):
  --backend local|nats|kube|podman
  local:   --state-dir DIR (env FLEET_STATE_DIR, default .fleet)
           --lock-timeout DURATION (retry a held lock this long, e.g. 30s; default 0)
  nats:    --lock-timeout DURATION (wait for an apply lock held elsewhere; default 10s)
           --nats URL[,URL] (env FLEET_NATS_URL)  --nats-creds FILE
           --nats-token TOKEN (env FLEET_NATS_TOKEN)  --nats-user USER  --nats-pass PASS
           --nats-tls-ca FILE  --nats-tls-cert FILE  --nats-tls-key FILE
           --replicas N (buckets created with N replicas, 3 on a three-server cluster;
                         an existing bucket with another count is an error)
           --nats-timeout DURATION (how long one JetStream API request may take; default 10s)
  kube:    --kubeconfig FILE  --context NAME  -n, --namespace NAME  --force-conflicts
  podman:  --podman-socket PATH   (this host as one device:)
           --device-id ID  --device-labels k=v[,k=v...]  --device-arch ARCH`;

export type BackendValues = { readonly [K in keyof typeof backendFlags]?: (typeof backendFlags)[K]["type"] extends "boolean" ? boolean : string };

export type BackendConfig =
  | { readonly _tag: "local"; readonly stateDir: string; readonly lockTimeoutMs: number }
  | ({
      readonly _tag: "nats";
      readonly replicas?: number;
      /** Wait for a held apply lock this long; undefined: the interpreter's default. */
      readonly lockTimeoutMs?: number;
      /** `--nats-timeout`: one JetStream API request's limit; undefined: the interpreter's default. */
      readonly apiTimeoutMs?: number;
    } & NatsFlagSettings)
  | { readonly _tag: "kube"; readonly kubeconfig?: string; readonly context?: string; readonly namespace?: string; readonly forceConflicts: boolean }
  | {
      readonly _tag: "podman";
      readonly socket?: string;
      readonly deviceId?: string;
      readonly labels?: Readonly<Record<string, string>>;
      readonly arch?: string;
    };

const OWNER: { readonly [K in keyof typeof backendFlags]: BackendName | "any" } = {
  backend: "any",
  "state-dir": "local",
  "lock-timeout": "local",
  nats: "nats",
  "nats-creds": "nats",
  "nats-token": "nats",
  "nats-user": "nats",
  "nats-pass": "nats",
  "nats-tls-ca": "nats",
  "nats-tls-cert": "nats",
  "nats-tls-key": "nats",
  replicas: "nats",
  "nats-timeout": "nats",
  kubeconfig: "kube",
  context: "kube",
  namespace: "kube",
  "force-conflicts": "kube",
  "podman-socket": "podman",
  "device-id": "podman",
  "device-labels": "podman",
  "device-arch": "podman",
};

/** Flags that a second backend takes as well as their owner. */
const ALSO: { readonly [K in keyof typeof backendFlags]?: BackendName } = { "lock-timeout": "nats" };

type Env = Readonly<Record<string, string | undefined>>;


/** Decodes the backend flags (and their environment fallbacks) into a config, or says what is wrong. */
export const backendConfig = (values: BackendValues, env: Env = process.env, cwd = process.cwd()): E.Either<string, BackendConfig> => {
  const chosen = values.backend ?? (env["FLEET_BACKEND"] !== undefined && env["FLEET_BACKEND"] !== "" ? env["FLEET_BACKEND"] : "local");
  const name = parseChoice(values.backend !== undefined ? "--backend" : "FLEET_BACKEND", BACKENDS, chosen);
  if (E.isLeft(name)) return name;
  const b = name.right;
  for (const k of Object.keys(values) as Array<keyof typeof backendFlags>) {
    const owner = OWNER[k];
    if (owner !== undefined && owner !== "any" && owner !== b && ALSO[k] !== b && values[k] !== undefined)
      return E.left(`--${k} is a flag of the ${owner} backend, but the backend is ${b} (add --backend ${owner})`);
  }
  switch (b) {
    case "local": {
      const dir = values["state-dir"] ?? (env["FLEET_STATE_DIR"] !== undefined && env["FLEET_STATE_DIR"] !== "" ? env["FLEET_STATE_DIR"] : ".fleet");
      if (dir === "") return E.left("--state-dir: must not be empty");
      const timeout = values["lock-timeout"] === undefined ? E.right(0) : parseDuration("--lock-timeout", values["lock-timeout"]);
      return E.map((ms: number): BackendConfig => ({ _tag: "local", stateDir: resolve(cwd, dir), lockTimeoutMs: ms }))(timeout);
    }
    case "nats": {
      const timeout = values["lock-timeout"] === undefined ? E.right(undefined) : parseDuration("--lock-timeout", values["lock-timeout"]);
      if (E.isLeft(timeout)) return timeout;
      const replicas = decodeReplicas(values);
      if (E.isLeft(replicas)) return replicas;
      const api = decodeNatsTimeout(values["nats-timeout"]);
      if (E.isLeft(api)) return api;
      return E.map(
        (s: NatsFlagSettings): BackendConfig => ({ _tag: "nats", ...s, ...opt("replicas", replicas.right), ...opt("lockTimeoutMs", timeout.right), ...opt("apiTimeoutMs", api.right) }),
      )(decodeNatsFlags(values, env));
    }
    case "kube":
      return E.right({
        _tag: "kube",
        ...opt("kubeconfig", values.kubeconfig),
        ...opt("context", values.context),
        ...opt("namespace", values.namespace),
        forceConflicts: values["force-conflicts"] === true,
      });
    case "podman": {
      const labels = values["device-labels"] === undefined ? E.right(undefined) : parseLabelsArg("--device-labels", values["device-labels"]);
      if (E.isLeft(labels)) return labels;
      const arch = values["device-arch"];
      if (arch !== undefined && !isArch(arch)) return E.left(`--device-arch: ${JSON.stringify(arch)} is not an architecture name (e.g. x86_64, aarch64)`);
      return E.right({
        _tag: "podman",
        ...opt("socket", values["podman-socket"]),
        ...opt("deviceId", values["device-id"]),
        ...opt("labels", labels.right),
        ...opt("arch", arch),
      });
    }
  }
};

/** Where a config points, for messages and for binding saved plans (never includes secrets). */
export const describeBackend = (c: BackendConfig): string => {
  switch (c._tag) {
    case "local":
      return `local ${c.stateDir}`;
    case "nats":
      return `nats ${c.servers.join(",")}`;
    case "kube":
      return `kube context=${c.context ?? "(current)"} namespace=${c.namespace ?? "(default)"}`;
    case "podman":
      return `podman ${c.socket ?? "(default socket)"}${c.deviceId !== undefined ? ` device=${c.deviceId}` : ""}`;
  }
};

export interface OpenBackend {
  readonly interpreter: Interpreter;
  /** Present for the local backend (force-unlock, simulation). */
  readonly local?: LocalInterpreter;
  /** Present for the NATS backend (force-unlock). */
  readonly nats?: NatsInterpreter;
}

export interface BackendHooks {
  /** A write found the state locked and waits (up to the lock timeout). */
  readonly onLockWait?: (holder: string) => void;
}

/** Connects (or opens the state directory); failures are named errors the CLI prints in one line. */
export const openBackend = async (c: BackendConfig, hooks: BackendHooks = {}): Promise<OpenBackend> => {
  switch (c._tag) {
    case "local": {
      const { local } = await import("../interpreters/local/index.ts");
      const interpreter = await local({
        stateDir: c.stateDir,
        lockTimeoutMs: c.lockTimeoutMs,
        version: VERSION,
        exitReleases: processReleases,
        ...(hooks.onLockWait !== undefined ? { onLockWait: hooks.onLockWait } : {}),
      });
      return { interpreter, local: interpreter };
    }
    case "nats": {
      const { nats } = await import("../interpreters/nats/index.ts");
      const { _tag, lockTimeoutMs, ...settings } = c;
      const interpreter = await nats({ ...settings, name: `fleet-cli ${VERSION}`, ...opt("lockWaitMs", lockTimeoutMs), exitReleases: processReleases });
      return { interpreter, nats: interpreter };
    }
    case "kube": {
      const { kube } = await import("../interpreters/kube/index.ts");
      const interpreter = await kube({
        ...opt("kubeconfig", c.kubeconfig),
        ...opt("context", c.context),
        ...opt("namespace", c.namespace),
        forceConflicts: c.forceConflicts,
      });
      return { interpreter };
    }
    case "podman": {
      const { podmanBackend } = await import("../interpreters/podman/index.ts");
      const interpreter = await podmanBackend({
        ...opt("socket", c.socket),
        ...opt("deviceId", c.deviceId),
        ...opt("labels", c.labels === undefined ? undefined : { ...c.labels }),
        ...opt("arch", c.arch),
      });
      return { interpreter };
    }
  }
};
