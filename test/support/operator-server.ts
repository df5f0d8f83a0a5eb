/**
 * A nats-server in operator mode for the credential and enrollment tests: a
 * fresh operator and account (`initOperator`), the server started with their
 * resolver configuration, a control-plane connection under its own creds, and
 * the fleet's buckets with one desired entry for each of two devices.
 *
 *   const op = await startOperatorServer(["pi-a", "pi-b"]);
 *   try { ... op.setup, op.server.url, op.controlPlane ... } finally { await op.stop(); }
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { initOperator, issueControlPlaneCreds, serverConfigFragment, type OperatorSetup } from "../../src/interpreters/nats/Credentials.ts";
import { openFleetBuckets } from "../../src/interpreters/nats/Buckets.ts";
import { startNatsServer, type NatsServer } from "./nats-server.ts";
import { removeTempDir, tempDir } from "./processes.ts";

export interface OperatorServer {
  readonly setup: OperatorSetup;
  readonly server: NatsServer;
  readonly controlPlane: NatsConnection;
  /** A directory of the test run's own, for the creds files a test writes; removed by `stop()`. */
  readonly dir: string;
  /** Closes the control plane's connection, stops the server, removes the configuration. */
  stop(): Promise<void>;
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Starts the server; `devices` each get a desired entry `<id>.web` = `for <last letter, upper case>` (`pi-a` → `for A`). */
export const startOperatorServer = async (devices: ReadonlyArray<string>): Promise<OperatorServer> => {
  const dir = await tempDir("operator");
  const setup = await initOperator("fleet-test");
  await writeFile(join(dir, "operator.conf"), serverConfigFragment(setup));
  const server = await startNatsServer({ extraArgs: ["-c", join(dir, "operator.conf")] });
  const controlPlane = await connect({ servers: server.url, authenticator: credsAuthenticator(bytes(await issueControlPlaneCreds(setup))) });
  const buckets = await openFleetBuckets(jetstream(controlPlane));
  for (const d of devices) await buckets.desired.put(`${d}.web`, `for ${d.slice(-1).toUpperCase()}`);
  return {
    setup,
    server,
    controlPlane,
    dir,
    stop: async () => {
      await controlPlane.close().catch(() => undefined);
      await server.stop();
      await removeTempDir(dir);
    },
  };
};

/** The error a server refusal raised; fails when the operation was allowed. */
export const denied = async (what: Promise<unknown>): Promise<string> => {
  try {
    await what;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("the server allowed it");
};
