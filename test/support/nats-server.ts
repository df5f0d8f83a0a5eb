/**
 * Test harness: real nats-servers with JetStream (Debian's package, installed
 * by scripts/ci/10-nats.sh), each on a free loopback port with its own store
 * directory; processes, ports and temp dirs come from the kit in processes.ts.
 *
 *   const server = await startNatsServer();
 *   try { ... server.url ... } finally { await server.stop(); }
 *
 *   const cluster = await startNatsCluster(3);   // a JetStream cluster on loopback routes
 *   try { ... cluster.url ... } finally { await cluster.stop(); }
 *
 * - `kill()` is SIGKILL (a crash: nothing flushed beyond what JetStream synced);
 * - `restart()` starts it again on the same port and store directory, so
 *   JetStream data survives (it also works after `kill()`);
 * - `stop()` ends it by PID and removes the store directory;
 * - every server still running when the test process exits is killed.
 */
import { existsSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort, freePorts, removeTempDir, retryingTakenPorts, sleep, spawnLive, tempDir, type LiveProcess } from "./processes.ts";

export { freePort } from "./processes.ts";

export const NATS_SERVER_BIN = process.env["FLEET_NATS_SERVER_BIN"] ?? "/usr/sbin/nats-server";

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Server name (`server_name`); cluster members are `fleet-n1`, `fleet-n2`, … */
  readonly name: string;
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

/**
 * Resolves true when the server named `name` sends its INFO line on a fresh connection. The name is
 * checked: when another process took the port first, ours fails to bind, and that other server (another
 * test's) must not pass for ours while our process is still on its way out.
 */
const acceptsClients = (port: number, name: string): Promise<boolean> =>
  new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("error", () => done(false));
    s.once("data", (b) => {
      const line = b.toString("latin1");
      done(line.startsWith("INFO") && line.includes(`"server_name":"${name}"`));
    });
  });


const requireBinary = (): void => {
  if (!existsSync(NATS_SERVER_BIN)) {
    throw new Error(`nats test server: ${NATS_SERVER_BIN} is missing; run \`bash scripts/ci/10-nats.sh\` as root`);
  }
};

/** One nats-server on `port` with store `storeDir`; `args` are everything but the client address and store. */
const natsNode = async (
  name: string,
  port: number,
  storeDir: string,
  args: ReadonlyArray<string>,
  options: NatsServerOptions,
): Promise<NatsServer> => {
  let proc: LiveProcess | undefined;
  let log = "";

  const launch = async (): Promise<void> => {
    log = "";
    const p = spawnLive(name, NATS_SERVER_BIN, [
      ...(options.noJetStream ? [] : ["-js", "-sd", storeDir]),
      "-n", name,
      "-a", "127.0.0.1",
      "-p", String(port),
      ...args,
      ...(options.extraArgs ?? []),
    ], { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (b: Buffer): void => {
      log = (log + b.toString("utf8")).slice(-8000);
    };
    p.child.stdout?.on("data", keep);
    p.child.stderr?.on("data", keep);
    proc = p;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    for (;;) {
      const status = p.status();
      if (status !== undefined) throw new Error(`nats-server ${name} exited during startup (${status}):\n${log}`);
      if (await acceptsClients(port, name)) return;
      if (Date.now() > deadline) {
        await p.kill();
        throw new Error(`nats-server ${name} did not accept connections on port ${port} in time:\n${log}`);
      }
      await sleep(50);
    }
  };

  let stopped: Promise<void> | undefined;
  try {
    await launch();
  } catch (e) {
    await removeTempDir(storeDir);
    throw e;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    name,
    get pid() {
      return proc?.pid ?? -1;
    },
    storeDir,
    stop: () =>
      (stopped ??= (async () => {
        await proc?.terminate();
        await removeTempDir(storeDir);
      })()),
    kill: async () => {
      await proc?.kill();
    },
    restart: async () => {
      await proc?.terminate();
      await launch();
    },
  };
};

export const startNatsServer = async (options: NatsServerOptions = {}): Promise<NatsServer> => {
  requireBinary();
  return retryingTakenPorts(async () => {
    const storeDir = await tempDir("nats");
    const port = await freePort();
    return natsNode(`fleet-${port}`, port, storeDir, [], options);
  });
};

// ---------------------------------------------------------------------------------
// A cluster

export interface NatsCluster {
  readonly servers: ReadonlyArray<NatsServer>;
  /** Every member's client URL. */
  readonly urls: ReadonlyArray<string>;
  /** The same, comma-separated (as `--nats` takes them). */
  readonly url: string;
  /** The member that leads `stream`'s RAFT group now, if one does. */
  streamLeader(stream: string): Promise<NatsServer | undefined>;
  /** Resolves once JetStream answers through every running member (a meta leader is elected). */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops every member and removes their stores. Idempotent. */
  stop(): Promise<void>;
}

/** Asks JetStream for the account info through `url` until it answers; a cluster without a meta leader does not. */
const jetStreamAnswers = async (url: string, deadline: number): Promise<void> => {
  let last = "";
  for (;;) {
    try {
      const nc = await connect({ servers: url, timeout: 2_000, reconnect: false });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        return;
      } finally {
        await nc.close();
      }
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) throw new Error(`nats cluster: JetStream did not answer through ${url} in time (last error: ${last})`);
    await sleep(250);
  }
};

/**
 * `n` nats-servers forming one JetStream cluster over routes on loopback
 * ports, each with its own store dir; resolves once JetStream answers through
 * every member.
 */
export const startNatsCluster = async (n = 3, options: NatsServerOptions & { readonly name?: string } = {}): Promise<NatsCluster> => {
  requireBinary();
  return retryingTakenPorts(() => clusterOnFreePorts(n, options));
};

const clusterOnFreePorts = async (n: number, options: NatsServerOptions & { readonly name?: string }): Promise<NatsCluster> => {
  const ports = await freePorts(2 * n);
  const clientPorts = ports.slice(0, n);
  const routePorts = ports.slice(n);
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const clusterName = options.name ?? `fleet-test-${clientPorts[0]}`;
  const servers: NatsServer[] = [];
  const stopAll = (): Promise<void> => Promise.all(servers.map((s) => s.stop())).then(() => undefined);
  try {
    // Started together: a member waits for its routes only to elect a meta leader, not to accept clients.
    const started = await Promise.all(
      clientPorts.map(async (port, i) => {
        const storeDir = await tempDir(`nats-n${i + 1}`);
        const s = await natsNode(`fleet-n${i + 1}`, port, storeDir, [
          "--cluster_name", clusterName,
          "--cluster", `nats://127.0.0.1:${routePorts[i]}`,
          "--routes", routes,
        ], options).catch(async (e: unknown) => {
          await removeTempDir(storeDir);
          throw e;
        });
        servers.push(s);
        return s;
      }),
    );
    started.sort((a, b) => a.name.localeCompare(b.name));
    const urls = started.map((s) => s.url);
    let stopping: Promise<void> | undefined;
    const cluster: NatsCluster = {
      servers: started,
      urls,
      url: urls.join(","),
      streamLeader: async (stream) => {
        for (const s of started) {
          try {
            const nc = await connect({ servers: s.url, timeout: 2_000, reconnect: false });
            try {
              const info = await (await jetstreamManager(nc, { timeout: 5_000 })).streams.info(stream);
              const leader = info.cluster?.leader;
              return started.find((x) => x.name === leader);
            } finally {
              await nc.close();
            }
          } catch {
            // that member is down or has no answer now: ask the next one
          }
        }
        return undefined;
      },
      ready: async (timeoutMs = 30_000) => {
        const deadline = Date.now() + timeoutMs;
        for (const s of started) if (s.pid > 0) await jetStreamAnswers(s.url, deadline);
      },
      stop: () => (stopping ??= stopAll()),
    };
    await cluster.ready(options.readyTimeoutMs ?? 30_000);
    return cluster;
  } catch (e) {
    await stopAll();
    throw e;
  }
};
