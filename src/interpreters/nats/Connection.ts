/**
 * How to reach NATS (`ConnectionSettings`: the one settings type the
 * backend, `fleet agent` and `fleet sim` build and pass), and connecting with
 * JetStream, turning every expected failure (server unreachable, credentials
 * refused, JetStream disabled) into one clear `BackendUnavailableError` line
 * instead of a stack trace.
 *
 * `servers` is a cluster's URL list: the client connects to a member that
 * answers (members are tried in random order, so agents given the same list
 * spread over the cluster; a dead one is skipped) and reconnects to another
 * member when its server goes away.
 */
import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { errorMessage as messageOf } from "../../algebra/ErrorMessage.ts";
import { BackendUnavailableError } from "../Interpreter.ts";
import { describeRefusedCreds } from "./CredsFile.ts";

export interface ConnectionSettings {
  /** One URL, a comma-separated list, or a list: every member of the cluster (or one server). */
  readonly servers: string | ReadonlyArray<string>;
  readonly credsFile?: string;
  readonly token?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  readonly name?: string;
  /**
   * The device whose own least-privilege credentials these are (`fleet credentials issue`): replies
   * come to its inbox prefix, the client never calls the JetStream API at large (no API check, buckets
   * bound for direct gets, never created).
   */
  readonly scopedTo?: string;
}

/** The inbox prefix of a device's replies: its credentials allow no other (Credentials.ts). */
export const deviceInboxPrefix = (id: string): string => `_INBOX_${id}`;

export interface ConnectBehaviour {
  /** Keep retrying the first connection (agents start before the server). Default false. */
  readonly waitOnFirstConnect?: boolean;
  /** Reconnect attempts after a drop; -1 forever. Default -1. */
  readonly maxReconnectAttempts?: number;
  /** JetStream API timeout, ms. Default 10 000. */
  readonly jsTimeoutMs?: number;
}

export interface JetStreamConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
}

/** The server URLs of `servers`, in order, each trimmed, empty ones dropped. */
export const serverList = (servers: ConnectionSettings["servers"]): string[] =>
  (typeof servers === "string" ? [servers] : servers)
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");

export const connectJetStream = async (settings: ConnectionSettings, behaviour: ConnectBehaviour = {}): Promise<JetStreamConnection> => {
  const servers = serverList(settings.servers);
  const where = servers.join(",");
  const options: NodeConnectionOptions = {
    servers,
    name: settings.name ?? "fleet-algebra",
    maxReconnectAttempts: behaviour.maxReconnectAttempts ?? -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: behaviour.waitOnFirstConnect ?? false,
    timeout: 5_000,
    // Async stack traces cost two Error objects per request: a third of the CPU of a pipelined apply.
    noAsyncTraces: true,
  };
  if (settings.scopedTo !== undefined) options.inboxPrefix = deviceInboxPrefix(settings.scopedTo);
  if (settings.token !== undefined) options.token = settings.token;
  if (settings.user !== undefined) options.user = settings.user;
  if (settings.pass !== undefined) options.pass = settings.pass;
  if (settings.tls !== undefined) {
    options.tls = {
      ...(settings.tls.caFile !== undefined ? { caFile: settings.tls.caFile } : {}),
      ...(settings.tls.certFile !== undefined ? { certFile: settings.tls.certFile } : {}),
      ...(settings.tls.keyFile !== undefined ? { keyFile: settings.tls.keyFile } : {}),
    };
  }
  let credsText: string | undefined;
  if (settings.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = await readFile(settings.credsFile);
    } catch (e) {
      throw new BackendUnavailableError(`cannot read NATS credentials file ${settings.credsFile}: ${messageOf(e)}`);
    }
    options.authenticator = credsAuthenticator(creds);
    credsText = new TextDecoder().decode(creds);
  }

  let nc: NatsConnection;
  try {
    nc = await connect(options);
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    if (name === "AuthorizationError" || /authori[sz]ation/i.test(messageOf(e)))
      throw new BackendUnavailableError(
        settings.credsFile !== undefined && credsText !== undefined
          ? `NATS server ${where} refused the credentials in ${settings.credsFile} (${describeRefusedCreds(credsText, new Date())}): ${messageOf(e)}`
          : `NATS server ${where} refused the credentials: ${messageOf(e)}`,
      );
    throw new BackendUnavailableError(`NATS server ${where} is unreachable: ${messageOf(e)}`);
  }
  // A device's own credentials may not call the account-wide API: the first bucket read tells instead.
  if (settings.scopedTo !== undefined) return { nc, js: jetstream(nc, { timeout: behaviour.jsTimeoutMs ?? 10_000, checkAPI: false }) };
  try {
    // Fails fast when the account has no JetStream (no responders on the API).
    await jetstreamManager(nc, { timeout: behaviour.jsTimeoutMs ?? 10_000 });
  } catch (e) {
    await nc.close().catch(() => undefined);
    if (e instanceof Error && (e.name === "JetStreamNotEnabled" || /not enabled|no responders/i.test(e.message)))
      throw new BackendUnavailableError(`NATS server ${where} does not have JetStream enabled (start nats-server with -js): ${e.message}`);
    throw new BackendUnavailableError(`NATS server ${where}: JetStream is unavailable: ${messageOf(e)}`);
  }
  return { nc, js: jetstream(nc, { timeout: behaviour.jsTimeoutMs ?? 10_000 }) };
};
