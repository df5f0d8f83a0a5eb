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
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { watchKeys, type KeyWatch, type KvRecord } from "./Watch.ts";

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
}

export class ScanError extends Error {
  override readonly name = "ScanError";
}

export const scanLatest = (js: JetStreamClient, bucket: string, options: ScanOptions = {}): Promise<KvRecord[]> =>
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
