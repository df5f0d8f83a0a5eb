/**
 * Bulk read of a KV bucket: the latest message of every key, in one pass.
 *
 * An ordered push consumer with `deliver_policy: last_per_subject`, no acks
 * and flow control streams the latest value of each key; the consumer's
 * pending count tells when the snapshot is complete (no per-key requests, no
 * waiting for an idle heartbeat). Deleted keys come back as their tombstone
 * (`DEL`/`PURGE`) so callers see their revision too (a create after a delete
 * compare-and-sets against it).
 *
 * The snapshot is as of the consumer's creation; values written during the
 * scan may or may not be included, as with any KV read.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { streamOf, subjectPrefixOf } from "./Buckets.ts";

export type KvOperation = "PUT" | "DEL" | "PURGE";

export interface ScannedEntry {
  readonly key: string;
  readonly revision: number;
  readonly operation: KvOperation;
  /** Empty when the scan was headers-only or the entry is a tombstone. */
  readonly value: Uint8Array;
}

export interface ScanOptions {
  /** Only revisions and operations, no values (for staleness checks). */
  readonly headersOnly?: boolean;
  /** A key filter with NATS wildcards (`pi-01.>`); default every key. */
  readonly filter?: string;
  /** Fails the scan when no message arrives for this long, ms. Default 30 000. */
  readonly stallTimeoutMs?: number;
}

export class ScanError extends Error {
  override readonly name = "ScanError";
}

const operationOf = (m: JsMsg): KvOperation => {
  const op = m.headers?.get("KV-Operation");
  return op === "DEL" || op === "PURGE" ? op : "PUT";
};

export const scanLatest = async (js: JetStreamClient, bucket: string, options: ScanOptions = {}): Promise<ScannedEntry[]> => {
  const prefix = subjectPrefixOf(bucket);
  const consumer = await js.consumers.getPushConsumer(streamOf(bucket), {
    filter_subjects: `${prefix}${options.filter ?? ">"}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
    ...(options.headersOnly ? { headers_only: true } : {}),
  });
  const info = await consumer.info(true);
  if (info.num_pending === 0) {
    await consumer.delete().catch(() => undefined);
    return [];
  }
  const out: ScannedEntry[] = [];
  const empty = new Uint8Array(0);
  const headersOnly = options.headersOnly === true;
  const stallMs = options.stallTimeoutMs ?? 30_000;
  return new Promise<ScannedEntry[]>((resolve, reject) => {
    let settled = false;
    let lastProgress = Date.now();
    let messages: { stop(err?: Error): void } | undefined;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      messages?.stop();
      if (err !== undefined) reject(err);
      else resolve(out);
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) finish(new ScanError(`reading bucket ${bucket} stalled after ${out.length} keys`));
    }, Math.min(1000, stallMs));
    consumer
      .consume({
        callback: (m) => {
          if (settled) return;
          lastProgress = Date.now();
          const operation = operationOf(m);
          out.push({
            key: m.subject.slice(prefix.length),
            revision: m.seq,
            operation,
            value: headersOnly || operation !== "PUT" ? empty : m.data,
          });
          if (m.info.pending === 0) finish();
        },
      })
      .then((iter) => {
        messages = iter;
        if (settled) iter.stop();
        void iter.closed().then(() => finish(settled ? undefined : new ScanError(`reading bucket ${bucket}: consumer closed early`)));
      }, (e: unknown) => finish(e instanceof Error ? e : new ScanError(String(e))));
  });
};
