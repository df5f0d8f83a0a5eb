/**
 * Shared by the NATS suites: the server fixture (`useNats`, `useNatsCluster`)
 * and converge checks against a real server's Reality.
 */
import { afterAll, beforeAll } from "vitest";
import { desiredEntries, observedEntries, type Reality } from "../../src/diff/Reality.ts";
import type { Interpreter } from "../../src/interpreters/Interpreter.ts";
import { nats, type NatsInterpreter, type NatsOptions } from "../../src/interpreters/nats/index.ts";
import { startNatsCluster, startNatsServer, type NatsCluster, type NatsServer, type NatsServerOptions } from "../support/nats-server.ts";

export type ClientOptions = Omit<NatsOptions, "servers">;

export interface NatsFixture<S> {
  /** The server (or cluster) of this `describe`. */
  readonly server: S;
  /** An interpreter connected to it, opened with the fixture's options. */
  readonly fleet: NatsInterpreter;
  /** One more interpreter on the same server(s); closed with the fixture. */
  open(options?: ClientOptions): Promise<NatsInterpreter>;
}

const fixture = <S extends { readonly url: string; stop(): Promise<void> }>(start: () => Promise<S>, options: ClientOptions): NatsFixture<S> => {
  let server: S | undefined;
  const clients: NatsInterpreter[] = [];
  const open = async (o: ClientOptions = options): Promise<NatsInterpreter> => {
    if (server === undefined) throw new Error("useNats: the server starts in beforeAll; use the fixture inside a test or hook");
    const client = await nats({ ...o, servers: server.url.split(",") });
    clients.push(client);
    return client;
  };
  let fleet: NatsInterpreter | undefined;
  beforeAll(async () => {
    server = await start();
    fleet = await open();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await server?.stop();
  });
  const need = <A>(a: A | undefined, what: string): A => {
    if (a === undefined) throw new Error(`useNats: ${what} is only there inside a test or hook (it starts in beforeAll)`);
    return a;
  };
  return {
    get server() {
      return need(server, "the server");
    },
    get fleet() {
      return need(fleet, "the interpreter");
    },
    open,
  };
};

/** One nats-server and an interpreter on it for the enclosing `describe` (started in beforeAll, stopped in afterAll). */
export const useNats = (options: ClientOptions = {}, serverOptions: NatsServerOptions = {}): NatsFixture<NatsServer> =>
  fixture(() => startNatsServer(serverOptions), options);

/** The same over an `n`-server JetStream cluster; the interpreter knows every member's URL. */
export const useNatsCluster = (n: number, options: ClientOptions = {}): NatsFixture<NatsCluster> =>
  fixture(() => startNatsCluster(n), options);

/** Every desired entry is observed Running at its spec, and nothing is observed that is not desired. */
export const converged = (r: Reality): boolean => {
  for (const d of desiredEntries(r)) {
    const o = r.observed.get(d.device)?.get(d.deployment);
    if (o === undefined || o.phase !== "Running" || o.specHash !== d.specHash) return false;
  }
  for (const o of observedEntries(r)) if (r.desired.get(o.device)?.get(o.deployment) === undefined) return false;
  return true;
};

/** What is still missing from convergence, for failure messages. */
export const notConverged = (r: Reality): string[] => {
  const out: string[] = [];
  for (const d of desiredEntries(r)) {
    const o = r.observed.get(d.device)?.get(d.deployment);
    if (o === undefined) out.push(`${d.device}.${d.deployment}: not reported`);
    else if (o.phase !== "Running" || o.specHash !== d.specHash) out.push(`${d.device}.${d.deployment}: ${o.phase} ${o.specHash ?? ""} ${o.error ?? ""}`);
  }
  for (const o of observedEntries(r)) if (r.desired.get(o.device)?.get(o.deployment) === undefined) out.push(`${o.device}.${o.deployment}: left behind (${o.phase})`);
  return out.sort();
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `read()` every `intervalMs` until `done(reality)` or the deadline; returns the last Reality either way. */
export const waitForReality = async (interpreter: Interpreter, done: (r: Reality) => boolean, timeoutMs = 20_000, intervalMs = 100): Promise<Reality> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { reality } = await interpreter.read();
    if (done(reality) || Date.now() > deadline) return reality;
    await sleep(intervalMs);
  }
};
