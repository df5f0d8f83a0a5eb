/**
 * Watching some keys of a bucket: first the latest value of each, then every
 * change, with a signal each time the watcher has caught up.
 *
 * An ordered push consumer (`last_per_subject`, no acks, flow control) does
 * both. `caughtUp` fires when nothing more is pending: (with `confirmFirst`,
 * the first time only once the consumer's own info confirms it) when a message
 * says it is the last pending one, or,
 * because a message's pending count can stay above zero for good when a key it
 * counted was superseded meanwhile (seen with nats-server 2.9), by asking the
 * consumer: while behind, its info is read every `settleMs`, and once it says
 * nothing is pending, the watch has caught up when it has received the
 * consumer's last delivery (by consumer sequence, not stream sequence: a
 * filtered consumer's stream position runs past messages it never delivers;
 * a delivery may still be on its way when the answer arrives; the question
 * also makes the server recount, and later messages carry the right count). This does not wait for deliveries to
 * pause: a key written more often than `settleMs` (heartbeats of many devices)
 * would otherwise keep a bulk read from ever finishing
 * (test/nats/scan-busy.test.ts). Consumers of the watch
 * act on a complete picture at those points (level-triggered), not on each
 * event. The ordered consumer recreates itself after gaps or server restarts;
 * callers that must not miss anything also start a fresh watch after a
 * reconnect.
 */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { streamOf, subjectPrefixOf } from "./Buckets.ts";

export type KvOperation = "PUT" | "DEL" | "PURGE";

export interface KvRecord {
  readonly key: string;
  readonly revision: number;
  readonly operation: KvOperation;
  /** Empty when the watch is headers-only or the entry is a tombstone. */
  readonly value: Uint8Array;
}

export interface WatchHandlers {
  readonly entry: (e: KvRecord) => void;
  readonly caughtUp: () => void;
  /** The watch ended on its own (consumer gone and not recreated). */
  readonly ended?: (why: string) => void;
}

export interface WatchOptions {
  /** Only revisions and operations, no values. */
  readonly headersOnly?: boolean;
  /** While behind, how often the consumer is asked whether anything is still pending, ms. Default 200. */
  readonly settleMs?: number;
  /** Attempts at creating the consumer when the server does not answer. Default 3. */
  readonly createAttempts?: number;
  /**
   * Signal the first catching up only once the consumer's info confirms it (one request more per watch):
   * what a bulk read needs, whose result must hold every key. Watches that follow changes for good (an
   * agent's: thousands of them on a server) leave it off; a partial first picture is completed by the
   * deliveries that follow.
   */
  readonly confirmFirst?: boolean;
}

export interface KeyWatch {
  stop(): void;
}

/** A KV message's operation (a stored one, or a write's notification). */
export const kvOperationOf = (m: { readonly data: Uint8Array; readonly headers?: { get(key: string): string } | undefined }): KvOperation => {
  // Delete markers carry no payload; decoding headers only then saves most of a bulk read's header parsing
  // (every compare-and-set write stores its precondition header with the value).
  if (m.data.length > 0) return "PUT";
  const op = m.headers?.get("KV-Operation");
  return op === "DEL" || op === "PURGE" ? op : "PUT";
};

/** Attempts at creating the consumer when the server does not answer (see `createConsumer`). */
const CREATE_ATTEMPTS = 3;

/**
 * Creates the ordered consumer, again when the request times out: for a while after a cluster member dies,
 * nats-server 2.9 leaves some consumer creations unanswered (seen as runs of 10 s timeouts on random buckets
 * for 60–90 s, test/nats/cluster.test.ts) while others succeed, so a read of five buckets failed whenever
 * any one did. Other errors are final. The error says which request failed.
 */
const createConsumer = async (js: JetStreamClient, stream: string, config: Parameters<JetStreamClient["consumers"]["getPushConsumer"]>[1], attempts: number) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await js.consumers.getPushConsumer(stream, config);
    } catch (e) {
      const timedOut = e instanceof Error && e.name === "TimeoutError";
      if (timedOut && attempt < attempts) continue;
      throw new Error(`creating a consumer on ${stream}${timedOut && attempt > 1 ? ` (${attempt} attempts)` : ""}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
};

/** Per JetStream client: whether it may ask a consumer for its info (unknown until it has asked). */
const canAsk = new WeakMap<JetStreamClient, boolean>();

export const isPermissionError = (e: unknown): boolean => {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) if (/permission/i.test(`${c.name} ${c.message}`)) return true;
  return false;
};

export const watchKeys = async (
  js: JetStreamClient,
  bucket: string,
  filter: string,
  handlers: WatchHandlers,
  options: WatchOptions = {},
): Promise<KeyWatch> => {
  const prefix = subjectPrefixOf(bucket);
  const config = {
    filter_subjects: `${prefix}${filter}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
    ...(options.headersOnly ? { headers_only: true } : {}),
    // Passed through to the consumer's config: an ephemeral watch needs no file-backed consumer state,
    // which makes creating one (a thousand agents at start, or after a reconnect) several times cheaper.
    mem_storage: true,
  };
  const consumer = await createConsumer(js, streamOf(bucket), config, options.createAttempts ?? CREATE_ATTEMPTS);
  const info = await consumer.info(true);
  const headersOnly = options.headersOnly === true;
  const settleMs = options.settleMs ?? 200;
  const empty = new Uint8Array(0);
  let stopped = false;
  // Whether the last delivery left something pending (and no caughtUp has been signalled since).
  let behind = info.num_pending > 0;
  // The last delivery received (the consumer's name changes when the ordered consumer recreates itself),
  // and the one the consumer said was its last, with nothing left pending, while that one is still on its way.
  let lastConsumer: string | undefined;
  let lastDelivery = 0;
  let awaited: { readonly consumer: string; readonly delivery: number } | undefined;
  let asking = false;
  const has = (consumer: string, delivery: number): boolean => (consumer === lastConsumer ? lastDelivery : 0) >= delivery;

  // Armed only while behind, so a thousand idle watches cost no timers.
  let settle: ReturnType<typeof setTimeout> | undefined;

  // With `confirmFirst`, until the first catching up, which the consumer itself must confirm (`check`): under
  // load nats-server 2.9 has said "nothing pending" on a filtered last-per-subject consumer's delivery (and in
  // the info it returns when created) with a key still to come, and a bulk read that trusted it ended without
  // that key (test/nats/scan-busy.test.ts). Later deliveries are live changes: their count is trusted. A client
  // that may not ask (a device's scoped credentials allow no consumer info) trusts the count, as before.
  let initial = options.confirmFirst === true && canAsk.get(js) !== false;
  // Whether the server has said that nothing is pending (a delivery's count, or the creation reply).
  let claimed = info.num_pending === 0;

  const signal = (): void => {
    behind = false;
    awaited = undefined;
    initial = false;
    handlers.caughtUp();
  };

  /** Asks the consumer now rather than after `settleMs`. */
  const checkNow = (): void => {
    behind = true;
    if (settle !== undefined) clearTimeout(settle);
    settle = undefined;
    check();
  };

  const messages = await consumer.consume({
    callback: (m) => {
      if (stopped) return;
      lastConsumer = m.info.consumer;
      lastDelivery = m.info.deliverySequence;
      const operation = kvOperationOf(m);
      handlers.entry({
        key: m.subject.slice(prefix.length),
        revision: m.seq,
        operation,
        value: headersOnly || operation !== "PUT" ? empty : m.data,
      });
      if (awaited !== undefined && has(awaited.consumer, awaited.delivery)) signal();
      else if (m.info.pending === 0 && !initial) signal();
      else if (m.info.pending === 0) {
        claimed = true;
        checkNow();
      } else {
        behind = true;
        arm();
      }
    },
  });

  function arm(): void {
    if (settle === undefined && !stopped) settle = setTimeout(check, settleMs);
  }
  function check(): void {
    settle = undefined;
    if (stopped || !behind || asking) return;
    asking = true;
    consumer
      .info()
      .then((i) => {
        canAsk.set(js, true);
        if (stopped || !behind || i.num_pending !== 0) return;
        // Nothing pending: every delivery up to this one was sent to us; caught up once it has arrived.
        if (has(i.name, i.delivered.consumer_seq)) signal();
        else awaited = { consumer: i.name, delivery: i.delivered.consumer_seq };
      })
      .catch((e: unknown) => {
        // Not allowed to ask (scoped credentials): from now on this client trusts the server's counts.
        if (isPermissionError(e)) canAsk.set(js, false);
        if (stopped || !behind) return;
        if (initial && claimed) signal();
      })
      .finally(() => {
        asking = false;
        if (behind) arm();
      });
  }
  if (behind) arm();

  if (info.num_pending === 0) queueMicrotask(() => stopped || (initial ? checkNow() : signal()));
  void messages.closed().then((r) => {
    if (settle !== undefined) clearTimeout(settle);
    if (!stopped) handlers.ended?.(r instanceof Error ? r.message : "watch closed");
  });
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (settle !== undefined) clearTimeout(settle);
      messages.stop();
      // Ephemeral consumers outlive their subscription until the server's inactivity threshold: delete it now.
      consumer.delete().catch(() => undefined);
    },
  };
};
