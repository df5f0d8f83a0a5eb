/**
 * Bulk read of a KV bucket: the latest message of every key, in one pass.
 *
 * A watch (Watch.ts) that stops when it first catches up: one ordered push
 * consumer streams the latest value of each key, with no per-key requests.
 * Deleted keys come back as their tombstone (`DEL`/`PURGE`) so callers see
 * their revision too (a create after a delete compare-and-sets against it).
 *
 * The snapshot is as of the consumer's creation, plus whatever was written
 * while it streamed, as with any KV read; each key comes once, at the latest
 * revision seen.
 *
 * A whole-bucket read is checked against the bucket's own count of keys
 * (its stream's subjects, as the stream's leader says), taken before the
 * read begins: in a cluster the read's consumer may sit on a member still
 * catching up, whose "nothing pending" ends the read without keys the
 * bucket holds. A read with fewer keys than that count is read again (up to
 * `SCAN_ATTEMPTS` times), then fails with one line rather than give a plan
 * a part of the fleet.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { streamOf } from "./Buckets.ts";
import { isPermissionError, watchKeys, type KeyWatch, type KvRecord } from "./Watch.ts";

export type { KvOperation, KvRecord as ScannedEntry } from "./Watch.ts";

export interface ScanOptions {
  /** Only revisions and operations, no values (for staleness checks). */
  readonly headersOnly?: boolean;
  /** A key filter with NATS wildcards (`pi-01.>`); default every key. */
  readonly filter?: string;
  /** Fails the scan when it has not caught up after this long without a delivery, ms. Default 30 000. */
  readonly stallTimeoutMs?: number;
  /**
   * Whether the end of the scan is confirmed by the consumer's info (Watch.ts, `confirmFirst`). Default
   * true: a read's result must hold every key. A follower's snapshot (Follow.ts) turns it off: thousands
   * of agents start one at once, and what a snapshot misses, the follow's notifications and resyncs bring.
   */
  readonly confirm?: boolean;
  /**
   * The number of keys the bucket holds, asked before each attempt of a whole-bucket read that is
   * confirmed; `undefined` when it cannot be known (credentials that may not ask). Default: the
   * bucket's stream's subjects (`keysHeld`). Tests give another to stand for a lagging member.
   */
  readonly keysHeld?: () => Promise<number | undefined>;
}

/** Reads of a whole bucket before one that comes back with fewer keys than the bucket held fails. */
export const SCAN_ATTEMPTS = 3;

export class ScanError extends Error {
  override readonly name = "ScanError";
}

const mayAsk = new WeakMap<JetStreamClient, boolean>();

/** The number of keys (subjects) the bucket's stream holds, from its leader; undefined when the credentials may not ask. */
export const keysHeld = async (js: JetStreamClient, bucket: string): Promise<number | undefined> => {
  if (mayAsk.get(js) === false) return undefined;
  try {
    const jsm = await js.jetstreamManager(false);
    const info = await jsm.streams.info(streamOf(bucket));
    mayAsk.set(js, true);
    return info.state.num_subjects;
  } catch (e) {
    if (isPermissionError(e)) {
      mayAsk.set(js, false);
      return undefined;
    }
    throw e;
  }
};

export const scanLatest = async (js: JetStreamClient, bucket: string, options: ScanOptions = {}): Promise<KvRecord[]> => {
  const whole = options.confirm !== false && (options.filter === undefined || options.filter === ">");
  const held = options.keysHeld ?? (() => keysHeld(js, bucket));
  for (let attempt = 1; ; attempt++) {
    const before = whole ? await held() : undefined;
    const got = await scanOnce(js, bucket, options);
    if (before === undefined || got.length >= before) return got;
    if (attempt >= SCAN_ATTEMPTS)
      throw new ScanError(
        `reading bucket ${bucket}: ${got.length} keys read ${SCAN_ATTEMPTS} times, but the bucket held ${before} when each read began (a cluster member still catching up?); nothing was planned from it, try again`,
      );
    await new Promise((r) => setTimeout(r, 250 * attempt));
  }
};

const scanOnce = (js: JetStreamClient, bucket: string, options: ScanOptions): Promise<KvRecord[]> =>
  new Promise<KvRecord[]>((resolve, reject) => {
    const out: KvRecord[] = [];
    const index = new Map<string, number>();
    let settled = false;
    let watch: KeyWatch | undefined;
    let lastProgress = Date.now();
    const stallMs = options.stallTimeoutMs ?? 30_000;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      watch?.stop();
      if (err !== undefined) reject(err);
      else resolve(out);
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) finish(new ScanError(`reading bucket ${bucket} stalled after ${out.length} keys`));
    }, Math.min(1000, stallMs));
    watchKeys(
      js,
      bucket,
      options.filter ?? ">",
      {
        entry: (e) => {
          if (settled) return;
          lastProgress = Date.now();
          // A key written again while the scan streams comes twice: keep its latest revision, once.
          const at = index.get(e.key);
          if (at === undefined) {
            index.set(e.key, out.length);
            out.push(e);
          } else if (e.revision > (out[at] as KvRecord).revision) out[at] = e;
        },
        caughtUp: () => finish(),
        ended: (why) => finish(new ScanError(`reading bucket ${bucket}: ${why}`)),
      },
      // A read's result must hold every key: its end is confirmed by the consumer (Watch.ts, `confirmFirst`).
      { confirmFirst: options.confirm !== false, ...(options.headersOnly === true ? { headersOnly: true } : {}) },
    ).then(
      (w) => {
        watch = w;
        if (settled) w.stop();
      },
      (e: unknown) => finish(e instanceof Error ? e : new ScanError(String(e))),
    );
  });
