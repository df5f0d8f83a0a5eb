/**
 * The device side's connection: one NATS connection, the buckets agents use,
 * reconnect notifications, and a bound on concurrent snapshot reads. One
 * agent owns one; `fleet sim` shares one among many simulated agents, which
 * is why snapshot reads go through `limit` (a reconnect must not fire a
 * thousand JetStream API requests at once).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { bindBuckets, openBuckets, type BucketSettings } from "./Buckets.ts";
import { connectJetStream, deviceInboxPrefix, type ConnectionSettings } from "./Connection.ts";
import { deviceWriter, type DeviceWriter } from "./DeviceSide.ts";
import { ackPublisher } from "./Publisher.ts";

export interface AgentConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly buckets: { readonly desired: KV; readonly info: KV; readonly state: KV; readonly heartbeat: KV };
  readonly writer: DeviceWriter;
  /** Runs `f` when fewer than the allowed number of limited tasks run. */
  limit<T>(f: () => Promise<T>): Promise<T>;
  /** Calls `f` after every reconnect; returns the unsubscribe function. */
  onReconnect(f: () => void): () => void;
  close(): Promise<void>;
}

export interface AgentConnectionOptions extends BucketSettings {
  /** Concurrent limited tasks (snapshot reads). Default 32. */
  readonly concurrency?: number;
  /** How long one JetStream API request (a direct get, a snapshot's consumer) may take, ms. Default 10 000. */
  readonly apiTimeoutMs?: number;
}

export const openAgentConnection = async (settings: ConnectionSettings, options: AgentConnectionOptions = {}): Promise<AgentConnection> => {
  // Agents start before or without the server and outlive its restarts: wait and reconnect forever.
  const { nc, js } = await connectJetStream(settings, {
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    ...(options.apiTimeoutMs !== undefined ? { jsTimeoutMs: options.apiTimeoutMs } : {}),
  });
  let buckets: AgentConnection["buckets"];
  try {
    // Scoped device credentials may not create or inspect streams: bind the buckets (direct gets).
    buckets = settings.scopedTo !== undefined ? await bindBuckets(js, ["desired", "info", "state", "heartbeat"]) : await openBuckets(js, ["desired", "info", "state", "heartbeat"], options);
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }

  const publisher = ackPublisher(nc, settings.scopedTo !== undefined ? { inboxPrefix: deviceInboxPrefix(settings.scopedTo) } : {});
  const listeners = new Set<() => void>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "reconnect") for (const f of [...listeners]) f();
    }
  })();

  const max = options.concurrency ?? 32;
  let active = 0;
  const waiting: Array<() => void> = [];
  const limit = async <T>(f: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await f();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };

  return {
    nc,
    js,
    buckets,
    writer: deviceWriter(publisher),
    limit,
    onReconnect: (f) => {
      listeners.add(f);
      return () => listeners.delete(f);
    },
    close: async () => {
      listeners.clear();
      publisher.close();
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
};
