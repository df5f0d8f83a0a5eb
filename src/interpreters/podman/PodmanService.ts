/**
 * Reaching a podman service: the socket to use, a first call that proves it
 * answers, and, only when asked (`startService: true`), a
 * `podman system service --time=0 unix://…` of our own, stopped by PID on
 * close.
 *
 * Contract: `connectPodman` either returns a connection whose service
 * answered `/version`, or throws one `BackendUnavailableError` saying which
 * socket was tried and how to start a service. A service we did not start
 * is never stopped by us.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as t from "io-ts";
import { isRight } from "fp-ts/lib/Either.js";
import { BackendUnavailableError } from "../Interpreter.ts";
import { defaultSocket, libpodClient, socketPathOf, type LibpodClient } from "./LibpodClient.ts";

export interface PodmanServiceOptions {
  /** `unix:///path` or a bare path; default `$CONTAINER_HOST`, else `/run/podman/podman.sock` (root) or `$XDG_RUNTIME_DIR/podman/podman.sock`. */
  readonly socket?: string;
  /** When no service answers on the socket, start `podman system service` there (stopped on close). Default false. */
  readonly startService?: boolean;
  /** `CONTAINERS_CONF` for a service this process starts. */
  readonly containersConf?: string;
  /** Global podman flags for a service this process starts (e.g. `--root`, `--runroot`). */
  readonly podmanArgs?: ReadonlyArray<string>;
  /** The podman binary for a service this process starts. Default `podman` on PATH. */
  readonly podmanPath?: string;
}

export interface PodmanConnection {
  readonly client: LibpodClient;
  /** podman's version, e.g. `4.3.1`. */
  readonly version: string;
  /** Closes the connection and stops the service if this process started it. */
  close(): Promise<void>;
}

const VersionBody = t.type({ Version: t.string });

const versionOf = async (client: LibpodClient): Promise<string> => {
  const res = await client.request("/version", { timeoutMs: 10_000 });
  if (!res.ok) throw new BackendUnavailableError(`podman at ${client.url} answered /version with an error: ${res.message}`);
  const v = VersionBody.decode(res.body);
  return isRight(v) ? v.right.Version : "unknown";
};

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid, "SIGTERM");
  const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut && child.exitCode === null) {
    process.kill(child.pid, "SIGKILL");
    await exited;
  }
};

const startService = async (client: LibpodClient, options: PodmanServiceOptions): Promise<{ child: ChildProcess; version: string }> => {
  const socketPath = socketPathOf(client.url) as string;
  await mkdir(path.dirname(socketPath), { recursive: true });
  const child = spawn(options.podmanPath ?? "podman", [...(options.podmanArgs ?? []), "system", "service", "--time=0", client.url], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...(options.containersConf !== undefined ? { CONTAINERS_CONF: options.containersConf } : {}) },
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-2000);
  });
  let spawnError: string | undefined;
  child.once("error", (e: NodeJS.ErrnoException) => {
    spawnError = e.code === "ENOENT" ? `${options.podmanPath ?? "podman"} is not installed` : e.message;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError !== undefined) throw new BackendUnavailableError(`could not start a podman service: ${spawnError}`);
    if (child.exitCode !== null) {
      const last = stderr.trim().split("\n").pop() ?? "";
      throw new BackendUnavailableError(`podman system service exited with code ${child.exitCode}${last !== "" ? `: ${last}` : ""}`);
    }
    try {
      return { child, version: await versionOf(client) };
    } catch (e) {
      if (!(e instanceof BackendUnavailableError)) throw e;
      if (Date.now() > deadline) {
        await stopChild(child);
        throw new BackendUnavailableError(`podman system service did not answer on ${client.url} within 20 s`);
      }
      await sleep(100);
    }
  }
};

export const connectPodman = async (options: PodmanServiceOptions = {}): Promise<PodmanConnection> => {
  const client = libpodClient(options.socket ?? defaultSocket());
  let version: string;
  let child: ChildProcess | undefined;
  try {
    version = await versionOf(client);
  } catch (e) {
    if (!(e instanceof BackendUnavailableError) || options.startService !== true) {
      client.close();
      throw e;
    }
    try {
      ({ child, version } = await startService(client, options));
    } catch (e2) {
      client.close();
      throw e2;
    }
  }
  return {
    client,
    version,
    close: async () => {
      client.close();
      if (child !== undefined) await stopChild(child);
    },
  };
};
