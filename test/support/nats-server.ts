/**
 * Test harness: a real nats-server with JetStream (Debian's package, installed
 * by scripts/ci/10-nats.sh), started per suite on a free loopback port with its
 * own store directory.
 *
 *   const server = await startNatsServer();
 *   try { ... server.url ... } finally { await server.stop(); }
 *
 * - `kill()` is SIGKILL (a crash: nothing flushed beyond what JetStream synced);
 * - `restart()` starts it again on the same port and store directory, so
 *   JetStream data survives (it also works after `kill()`);
 * - `stop()` ends it by PID and removes the store directory;
 * - every server still running when the test process exits is killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NATS_SERVER_BIN = process.env["FLEET_NATS_SERVER_BIN"] ?? "/usr/sbin/nats-server";

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** PID of the current process (changes on restart). */
  readonly pid: number;
  readonly storeDir: string;
  /** SIGTERM, wait, remove the store directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the process to be gone; the store directory stays. */
  kill(): Promise<void>;
  /** Stops the process if it runs (SIGTERM) and starts it again on the same port and store. */
  restart(): Promise<void>;
}

export interface NatsServerOptions {
  /** Startup deadline, ms. Default 20 000. */
  readonly readyTimeoutMs?: number;
  /** Extra nats-server flags. */
  readonly extraArgs?: ReadonlyArray<string>;
  /** Without JetStream (to test the "JetStream not enabled" error). */
  readonly noJetStream?: boolean;
}

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
process.on("exit", () => {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

/** A port nobody listens on right now (bind port 0, read it, close). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the server sends its INFO line on a fresh connection. */
const acceptsClients = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("error", () => done(false));
    s.once("data", (b) => done(b.toString("latin1").startsWith("INFO")));
  });

const exited = (p: ChildProcess): Promise<void> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once("exit", () => r()));

export const startNatsServer = async (options: NatsServerOptions = {}): Promise<NatsServer> => {
  if (!existsSync(NATS_SERVER_BIN)) {
    throw new Error(`nats test server: ${NATS_SERVER_BIN} is missing; run \`bash scripts/ci/10-nats.sh\` as root`);
  }
  const storeDir = await mkdtemp(join(tmpdir(), "fleet-nats-"));
  liveDirs.add(storeDir);
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let log = "";

  const launch = async (): Promise<void> => {
    const args = [
      ...(options.noJetStream ? [] : ["-js", "-sd", storeDir]),
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      ...(options.extraArgs ?? []),
    ];
    log = "";
    const p = spawn(NATS_SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (b: Buffer): void => {
      log = (log + b.toString("utf8")).slice(-8000);
    };
    p.stdout?.on("data", keep);
    p.stderr?.on("data", keep);
    live.add(p);
    p.once("exit", () => live.delete(p));
    proc = p;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`nats-server exited during startup (${p.exitCode ?? p.signalCode}):\n${log}`);
      }
      if (await acceptsClients(port)) return;
      if (Date.now() > deadline) {
        p.kill("SIGKILL");
        throw new Error(`nats-server did not accept connections on port ${port} in time:\n${log}`);
      }
      await sleep(50);
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    const grace = setTimeout(() => p.kill("SIGKILL"), 10_000);
    await exited(p);
    clearTimeout(grace);
  };

  let stopped: Promise<void> | undefined;
  try {
    await launch();
  } catch (e) {
    await rm(storeDir, { recursive: true, force: true });
    liveDirs.delete(storeDir);
    throw e;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return proc?.pid ?? -1;
    },
    storeDir,
    stop: () =>
      (stopped ??= (async () => {
        await terminate("SIGTERM");
        await rm(storeDir, { recursive: true, force: true });
        liveDirs.delete(storeDir);
      })()),
    kill: () => terminate("SIGKILL"),
    restart: async () => {
      await terminate("SIGTERM");
      await launch();
    },
  };
};
