/**
 * Following some keys of a bucket cheaply enough for thousands of followers
 * on one server: a snapshot, then change notifications and reads.
 *
 * A JetStream consumer per follower makes every write to the bucket wake
 * every consumer of the stream on the server (with 5,000 agents, nats-server
 * 2.9 spent about a millisecond of CPU per write). Here each follower:
 * 1. subscribes (core NATS, no server-side state) to its keys' subjects: each
 *    write attempt is a notification, nothing more; a refused
 *    compare-and-set write is notified too, so notifications are never
 *    trusted as values;
 * 2. reads a snapshot of its keys (Scan.ts, one short-lived consumer);
 * 3. for each key notified since, reads the stored entry (a direct get) and
 *    takes it only if its revision is newer than what it has (so reads that
 *    complete out of order, and refused writes, change nothing);
 * 4. signals `caughtUp` whenever nothing is left to read.
 *
 * Notifications lost while disconnected are not recovered here: followers
 * start a fresh follow after every reconnect (and periodically).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { subjectPrefixOf } from "./Buckets.ts";
import { scanLatest } from "./Scan.ts";
import type { KvRecord, WatchHandlers } from "./Watch.ts";

export interface Follow {
  stop(): void;
}

export interface FollowDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly kv: KV;
  readonly bucket: string;
}

export interface FollowOptions {
  /** Delay before re-reading a key whose read failed, ms. Default 1 000. */
  readonly retryMs?: number;
}

export const followKeys = async (deps: FollowDeps, filter: string, handlers: WatchHandlers, options: FollowOptions = {}): Promise<Follow> => {
  const prefix = subjectPrefixOf(deps.bucket);
  const retryMs = options.retryMs ?? 1_000;
  const known = new Map<string, number>();
  const dirty = new Set<string>();
  // Reads that keep failing (a key the client refuses to read) are given up after a few tries.
  const failures = new Map<string, number>();
  let snapshotTaken = false;
  let reading = false;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const take = (e: KvRecord): void => {
    const have = known.get(e.key);
    if (have !== undefined && e.revision <= have) return;
    known.set(e.key, e.revision);
    handlers.entry(e);
  };

  const readDirty = async (): Promise<void> => {
    if (stopped || !snapshotTaken || reading) return;
    if (dirty.size === 0) {
      handlers.caughtUp();
      return;
    }
    reading = true;
    const keys = [...dirty];
    dirty.clear();
    let failed = false;
    await Promise.all(
      keys.map(async (key) => {
        try {
          const e = await deps.kv.get(key);
          failures.delete(key);
          if (e !== null && !stopped) take({ key, revision: e.revision, operation: e.operation, value: e.operation === "PUT" ? e.value : new Uint8Array(0) });
        } catch {
          const n = (failures.get(key) ?? 0) + 1;
          failures.set(key, n);
          if (n < 5) {
            dirty.add(key);
            failed = true;
          }
        }
      }),
    );
    reading = false;
    if (stopped) return;
    if (failed) {
      retry ??= setTimeout(() => {
        retry = undefined;
        void readDirty();
      }, retryMs);
      return;
    }
    await readDirty();
  };

  const sub: Subscription = deps.nc.subscribe(`${prefix}${filter}`, {
    callback: (err, msg) => {
      if (err !== null || stopped) return;
      dirty.add(msg.subject.slice(prefix.length));
      void readDirty();
    },
  });
  try {
    // The subscription is live before the snapshot is read: nothing written meanwhile is missed.
    await deps.nc.flush();
    for (const e of await scanLatest(deps.js, deps.bucket, { filter, confirm: false })) take(e);
  } catch (e) {
    sub.unsubscribe();
    throw e;
  }
  snapshotTaken = true;
  void readDirty();

  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      sub.unsubscribe();
    },
  };
};
