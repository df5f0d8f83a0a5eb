/**
 * The kit every real-server harness (nats-server, kube-apiserver + etcd,
 * podman) is built on: free loopback ports, child processes kept in a
 * live-process registry, temp dirs registered for removal, and one cleanup
 * that runs when the test process exits, normally or by a signal.
 *
 * - `freePort()` / `freePorts(n)`: ports nobody listens on right now (n at
 *   once are distinct); `retryingTakenPorts(start)` starts again on new
 *   ports when another process took one before the server bound it;
 * - `spawnLive(name, bin, args, options)`: a child whose PID stays in the
 *   registry until it has exited; `terminate()` is SIGTERM, then SIGKILL after
 *   a grace period, and waits; `kill()` is SIGKILL and waits;
 * - `tempDir(label)`: a fresh directory `fleet-test-<label>-XXXXXX` under
 *   `os.tmpdir()` (the run's own directory, see test/support/global-setup.ts),
 *   removed by `removeTempDir` or at exit;
 * - `atExit(cleanup)`: a synchronous last resort for anything else (podman
 *   storage); returns the function that unregisters it.
 *
 * At exit the registered cleanups run first (they may still need their
 * processes), then every live PID is SIGKILLed, then every temp dir removed.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Every harness temp dir starts with this, so a leftover names its owner. */
export const TEMP_PREFIX = "fleet-test-";

// ---------------------------------------------------------------------------------
// Ports

const listenOnAnyPort = (): Promise<Server> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve(s));
  });

/** `n` distinct ports on 127.0.0.1 that nothing listens on right now (all bound at once, then released). */
export const freePorts = async (n: number): Promise<number[]> => {
  const servers = await Promise.all(Array.from({ length: n }, listenOnAnyPort));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
};

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export const freePort = async (): Promise<number> => (await freePorts(1))[0] as number;

/**
 * Runs `start` (which picks its own free ports) again when it fails because a port was taken between
 * picking and binding ("address already in use" in its error), up to `attempts` times in all.
 */
export const retryingTakenPorts = async <T>(start: () => Promise<T>, attempts = 3): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (!(e instanceof Error && /address already in use/.test(e.message)) || attempt >= attempts) throw e;
    }
  }
};

// ---------------------------------------------------------------------------------
// The registry and the exit hook

const livePids = new Set<number>();
const liveDirs = new Set<string>();
const cleanups = new Set<() => void>();
let hooked = false;

const signalQuietly = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

const cleanUpNow = (): void => {
  for (const f of [...cleanups]) {
    try {
      f();
    } catch {
      // best effort: one failing cleanup must not keep the others from running
    }
  }
  cleanups.clear();
  for (const pid of livePids) signalQuietly(pid, "SIGKILL");
  livePids.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a process may still hold files for a moment
    }
  }
  liveDirs.clear();
};

/**
 * `exit` covers a normal end and `process.exit`; a signal whose default would
 * end the process without `exit` gets a handler that cleans up, then lets the
 * signal take its default course. When someone else handles that signal too
 * (an in-process agent waiting for SIGTERM), the process does not end, so
 * neither does the cleanup happen here.
 */
const installHook = (): void => {
  if (hooked) return;
  hooked = true;
  process.on("exit", cleanUpNow);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return;
      cleanUpNow();
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
};

/** Registers a synchronous cleanup for process exit; returns the function that unregisters it. */
export const atExit = (cleanup: () => void): (() => void) => {
  installHook();
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
};

// ---------------------------------------------------------------------------------
// Temp dirs

/** A fresh `fleet-test-<label>-XXXXXX` dir under the run's temp dir, removed at exit unless removed before. */
export const tempDir = async (label: string): Promise<string> => {
  installHook();
  const dir = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${label}-`));
  liveDirs.add(dir);
  return dir;
};

/** Removes a dir made by `tempDir` (or any dir registered with `registerDir`). Idempotent. */
export const removeTempDir = async (dir: string): Promise<void> => {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  liveDirs.delete(dir);
};

/** Registers a dir made elsewhere (with a shorter name, say) for removal at exit. */
export const registerDir = (dir: string): void => {
  installHook();
  liveDirs.add(dir);
};

// ---------------------------------------------------------------------------------
// Processes

export interface LiveProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** -1 when the spawn failed. */
  readonly pid: number;
  /** Resolves once the process is gone (or could not be spawned). */
  readonly exited: Promise<void>;
  /** undefined while it runs; then `exit code N`, `signal SIG` or `spawn error: …`. */
  status(): string | undefined;
  /** SIGTERM, SIGKILL after `graceMs` (default 10 000), wait. No-op when gone. */
  terminate(graceMs?: number): Promise<void>;
  /** SIGKILL (a crash) and wait. No-op when gone. */
  kill(): Promise<void>;
}

/** Spawns `bin` and keeps its PID in the registry until it exits. */
export const spawnLive = (name: string, bin: string, args: ReadonlyArray<string>, options: SpawnOptions = {}): LiveProcess => {
  installHook();
  const child = spawn(bin, [...args], options);
  let status: string | undefined;
  const pid = child.pid ?? -1;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, sig) => {
      status = sig !== null ? `signal ${sig}` : `exit code ${code}`;
      livePids.delete(pid);
      resolve();
    });
    child.once("error", (err) => {
      status ??= `spawn error: ${err.message}`;
      livePids.delete(pid);
      resolve();
    });
  });
  if (pid > 0) livePids.add(pid);
  const gone = (): boolean => status !== undefined || pid <= 0;
  return {
    name,
    child,
    pid,
    exited,
    status: () => status,
    terminate: async (graceMs = 10_000) => {
      if (gone()) return;
      signalQuietly(pid, "SIGTERM");
      const timer = setTimeout(() => signalQuietly(pid, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    kill: async () => {
      if (gone()) return;
      signalQuietly(pid, "SIGKILL");
      await exited;
    },
  };
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `tempDir` for synchronous set-up (a `describe` body). */
export const tempDirSync = (label: string): string => {
  installHook();
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${label}-`));
  liveDirs.add(dir);
  return dir;
};
