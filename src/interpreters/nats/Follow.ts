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
 * 2. reads a snapshot of its keys (Scan.ts, one short-lived consumer), and
 *    on its own each key the caller expects that the snapshot lacks;
 * 3. for each key notified since, reads the stored entry (a direct get) and
 *    takes it only if its revision is newer than what it has (so reads that
 *    complete out of order, and refused writes, change nothing);
 * 4. signals `caughtUp` whenever nothing is left to read.
 *
 * A read can be older than the notification that asked for it: in a cluster
 * any replica of the stream answers a direct get (the one on the follower's
 * own server first), and a replica applies a write after the leader stored
 * it, and nats-server 2.9 also lets a replica answer while it catches up
 * after a restart. The notification arrives about when the leader gets the
 * write, so a replica's answer is often the previous value. Such a read would
 * leave the follower a write behind until its next resync (minutes), so a
 * read that does not return what was notified (same operation, same bytes) is
 * made again after 100 ms, 200 ms, 400 ms, … (`rechecks` times). A refused
 * compare-and-set write is never found, and costs those few reads.
 *
 * Notifications lost while disconnected are not recovered here: followers
 * start a fresh follow after every reconnect (and periodically).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { subjectPrefixOf } from "./Buckets.ts";
import { scanLatest } from "./Scan.ts";
import { kvOperationOf, type KvOperation, type KvRecord, type WatchHandlers } from "./Watch.ts";

export interface Follow {
  stop(): void;
}

export interface FollowDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** Only its `get` is used (tests give one that answers like a replica behind). */
  readonly kv: Pick<KV, "get">;
  readonly bucket: string;
  /** The snapshot read of the keys `filter` matches. Default `scanLatest` (tests give one that comes back short). */
  readonly snapshot?: (filter: string) => Promise<ReadonlyArray<KvRecord>>;
}

export interface FollowOptions {
  /** Delay before re-reading a key whose read failed, ms. Default 1 000. */
  readonly retryMs?: number;
  /** Delay before the first re-read of a key whose read was older than its notification, ms; doubled each time. Default 100. */
  readonly recheckMs?: number;
  /** Re-reads of a key whose read was older than its notification, before the next resync is left to find it. Default 8 (25 s in all). */
  readonly rechecks?: number;
  /**
   * Keys the caller believes exist (what it runs): each one the snapshot does not hold is read on its own
   * (a direct get) before the first catching up. A key once written always has a message (a deletion
   * leaves a tombstone), so a snapshot without it came back short: under load nats-server 2.9 has said
   * "nothing pending" when creating a filtered consumer with a key still to come, and an agent that
   * trusted such a snapshot would stop what it runs until its next resync.
   */
  readonly expected?: Iterable<string>;
}

/** Marks a key read because the caller expected it and the snapshot lacked it (no notification). */
const EXPECTED = Symbol("expected");

/** What a notification said was written: compared with what a read returns. */
interface Notice {
  readonly operation: KvOperation;
  readonly value: Uint8Array;
}

/** A key to read: what its read is compared with, reads that missed it (older, or absent) and reads that failed. */
interface Pending {
  readonly notice: Notice | typeof EXPECTED;
  readonly missed: number;
  readonly failed: number;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** Whether a read returned the write its notification announced (or one identical to it). */
const found = (n: Notice, e: KvRecord): boolean => n.operation === e.operation && (n.operation !== "PUT" || sameBytes(n.value, e.value));

export const followKeys = async (deps: FollowDeps, filter: string, handlers: WatchHandlers, options: FollowOptions = {}): Promise<Follow> => {
  const prefix = subjectPrefixOf(deps.bucket);
  const retryMs = options.retryMs ?? 1_000;
  const recheckMs = options.recheckMs ?? 100;
  const rechecks = options.rechecks ?? 8;
  // Monotonic: a device's wall clock may step (no real-time clock before NTP), which must not stall re-reads.
  const now = (): number => performance.now();
  const known = new Map<string, number>();
  // Keys to read, each with what its latest notification announced and how its reads of it went so far. A
  // key is in at most one of: `dirty`, the batch being read, `later`; a key notified while its read is out
  // is in `dirty` again, so that read's outcome is dropped for the newer one.
  const dirty = new Map<string, Pending>();
  // Keys to read again, and when. A key whose read failed, or an expected key not found yet, holds back
  // `caughtUp` (`blocks`): a view without it would stop what it names. A read older than its notification
  // does not: the view is as good as before it.
  const later = new Map<string, Pending & { readonly due: number; readonly blocks: boolean }>();
  let snapshotTaken = false;
  let reading = false;
  let stopped = false;
  // Whether an entry was taken since `caughtUp` was last signalled (each signal starts a reconcile pass).
  let changed = true;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let retryDue = Infinity;

  const take = (e: KvRecord): void => {
    const have = known.get(e.key);
    if (have !== undefined && e.revision <= have) return;
    known.set(e.key, e.revision);
    changed = true;
    handlers.entry(e);
  };

  /** Reads the keys of `later` that are due, and sets the timer for the next. */
  const arm = (): void => {
    let next = Infinity;
    for (const { due } of later.values()) next = Math.min(next, due);
    if (next >= retryDue) return;
    if (retry !== undefined) clearTimeout(retry);
    retryDue = next;
    if (next === Infinity) return;
    retry = setTimeout(() => {
      retry = undefined;
      retryDue = Infinity;
      const t = now();
      for (const [key, l] of later)
        if (l.due <= t) {
          later.delete(key);
          dirty.set(key, l);
        }
      arm();
      kick();
    }, Math.max(0, next - now()));
  };

  /** Reads one key; one to read again goes to `later`. */
  const readOne = async (key: string, p: Pending): Promise<void> => {
    let e: KvRecord | undefined;
    try {
      const got = await deps.kv.get(key);
      e = got === null ? undefined : { key, revision: got.revision, operation: got.operation, value: got.operation === "PUT" ? got.value : new Uint8Array(0) };
    } catch {
      // Reads that keep failing (a key the client refuses to read) are given up after a few; an expected key's never.
      const failed = p.failed + 1;
      if (!stopped && !dirty.has(key) && (failed < 5 || p.notice === EXPECTED)) later.set(key, { ...p, failed, due: now() + retryMs, blocks: true });
      return;
    }
    if (stopped) return;
    if (e !== undefined) take(e);
    // A newer notification came while this read was out: its own read settles the key.
    if (dirty.has(key)) return;
    if (e !== undefined && (p.notice === EXPECTED || found(p.notice, e))) return;
    // Older than the notification (a replica behind), a refused write, or an expected key a replica does not
    // have yet: look again a little later.
    const missed = p.missed + 1;
    if (missed > rechecks) return;
    later.set(key, { notice: p.notice, missed, failed: 0, due: now() + recheckMs * 2 ** (missed - 1), blocks: p.notice === EXPECTED });
  };

  const readDirty = async (): Promise<void> => {
    while (!stopped && snapshotTaken && !reading) {
      if (dirty.size === 0) {
        for (const l of later.values()) if (l.blocks) return;
        if (!changed) return;
        changed = false;
        handlers.caughtUp();
        return;
      }
      reading = true;
      const batch = [...dirty];
      dirty.clear();
      try {
        await Promise.all(batch.map(([key, p]) => readOne(key, p)));
      } finally {
        reading = false;
      }
      if (!stopped) arm();
    }
  };

  /** Reads what is dirty; a handler that throws is reported as the follow's end (a bug: never an unhandled rejection). */
  const kick = (): void =>
    void readDirty().catch((e: unknown) => handlers.ended?.(`following ${filter}: ${e instanceof Error ? e.message : String(e)}`));

  const sub: Subscription = deps.nc.subscribe(`${prefix}${filter}`, {
    callback: (err, msg) => {
      if (err !== null || stopped) return;
      const key = msg.subject.slice(prefix.length);
      // A new write: its reads start over, and a re-read waiting for an older one is not needed.
      dirty.set(key, { notice: { operation: kvOperationOf(msg), value: msg.data }, missed: 0, failed: 0 });
      later.delete(key);
      kick();
    },
  });
  try {
    // The subscription is live before the snapshot is read: nothing written meanwhile is missed.
    await deps.nc.flush();
    const snapshot = deps.snapshot ?? ((f: string) => scanLatest(deps.js, deps.bucket, { filter: f, confirm: false }));
    for (const e of await snapshot(filter)) take(e);
    // Notified meanwhile or not, an expected key the snapshot lacks is read before the first catching up.
    for (const key of options.expected ?? [])
      if (!known.has(key) && !dirty.has(key)) dirty.set(key, { notice: EXPECTED, missed: 0, failed: 0 });
  } catch (e) {
    sub.unsubscribe();
    throw e;
  }
  snapshotTaken = true;
  kick();

  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      sub.unsubscribe();
    },
  };
};
