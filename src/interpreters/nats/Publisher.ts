/**
 * Pipelined JetStream publishing with acknowledgements.
 *
 * `js.publish` makes one request per message (a promise, a timer and, with
 * async traces on, error objects each), which caps a pipelined apply at about
 * 20k writes/s on one core. This publisher sends plain NATS publishes with a
 * reply subject under one wildcard inbox subscription and matches each PubAck
 * to its write by the reply token; expiry is one sweep for all writes. The
 * semantics are JetStream's own: every write still carries its
 * compare-and-set header and is acknowledged (or refused) by the server.
 *
 * A write whose ack does not come in time fails with a timeout; it may still
 * have been stored (the ack was lost), which is why callers re-read before
 * re-planning rather than retrying blindly.
 *
 * When the connection drops, writes wait for the client's reconnect; if it is
 * not back within `lostAfterMs`, the server counts as lost: every write still
 * waiting, and every new one until a reconnect, fails at once with a
 * `ServerLostError` (so an apply can stop with one line instead of timing out
 * write by write).
 */
import { createInbox, headers as makeHeaders, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { errorMessage } from "../../algebra/ErrorMessage.ts";

export class PublishError extends Error {
  override readonly name: string = "PublishError";
  constructor(
    message: string,
    /** JetStream's API error code (10071: wrong last sequence), when the server refused the write. */
    readonly code?: number,
  ) {
    super(message);
  }
}

/** The connection has been down longer than the publisher's `lostAfterMs`. */
export class ServerLostError extends PublishError {
  override readonly name: string = "ServerLostError";
}

/** How long a dropped connection may take to come back before writes fail as `ServerLostError`. */
export const DEFAULT_LOST_AFTER_MS = 10_000;

/** JetStream's error code for a failed compare-and-set (`Nats-Expected-Last-Subject-Sequence`). */
export const WRONG_LAST_SEQUENCE = 10071;

interface Waiting {
  readonly resolve: (seq: number) => void;
  readonly reject: (e: PublishError) => void;
  readonly deadline: number;
}

export interface PublishHeaders {
  /** Compare-and-set: the key's last revision must be this (0: the key has no message). */
  readonly expectedLastSubjectSequence?: number;
  /** KV operation marker (`DEL` for a delete). */
  readonly kvOperation?: "DEL" | "PURGE";
}

export interface AckPublisher {
  publish(subject: string, data: Uint8Array, headers?: PublishHeaders): Promise<number>;
  close(): void;
}

const decoder = new TextDecoder();

export const ackPublisher = (
  nc: NatsConnection,
  options: { readonly timeoutMs?: number; readonly lostAfterMs?: number; /** The connection's inbox prefix, when not the default (scoped device credentials). */ readonly inboxPrefix?: string } = {},
): AckPublisher => {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const lostAfterMs = options.lostAfterMs ?? DEFAULT_LOST_AFTER_MS;
  const inbox = createInbox(options.inboxPrefix);
  const prefixLen = inbox.length + 1;
  const waiting = new Map<string, Waiting>();
  let next = 0;
  let closed = false;

  const sub: Subscription = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err !== null) return;
      const token = msg.subject.slice(prefixLen);
      const w = waiting.get(token);
      if (w === undefined) return;
      waiting.delete(token);
      if (msg.data.length === 0 && msg.headers?.code === 503) {
        w.reject(new PublishError(`no JetStream stream answers ${msg.subject}`));
        return;
      }
      let ack: { seq?: unknown; error?: { err_code?: unknown; code?: unknown; description?: unknown } };
      try {
        ack = JSON.parse(decoder.decode(msg.data)) as typeof ack;
      } catch {
        w.reject(new PublishError("unreadable acknowledgement"));
        return;
      }
      if (ack.error !== undefined) {
        const code = typeof ack.error.err_code === "number" ? ack.error.err_code : undefined;
        w.reject(new PublishError(String(ack.error.description ?? "write refused"), code));
      } else if (typeof ack.seq === "number") {
        w.resolve(ack.seq);
      } else {
        w.reject(new PublishError("acknowledgement without a sequence"));
      }
    },
  });

  // Down for longer than lostAfterMs: fail what waits, and what comes, until the client reconnects.
  let lost: ServerLostError | undefined;
  let lostTimer: NodeJS.Timeout | undefined;
  const serverLost = (): void => {
    lost = new ServerLostError(`the NATS server has been unreachable for ${lostAfterMs / 1000} s`);
    for (const w of waiting.values()) w.reject(lost);
    waiting.clear();
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (closed) break;
      if (s.type === "disconnect" && lostTimer === undefined) {
        lostTimer = setTimeout(serverLost, lostAfterMs);
        lostTimer.unref();
      } else if (s.type === "reconnect") {
        clearTimeout(lostTimer);
        lostTimer = undefined;
        lost = undefined;
      }
    }
  })().catch(() => undefined);

  // Map iteration follows insertion, and deadlines grow with insertion: stop at the first live one.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [token, w] of waiting) {
      if (w.deadline > now) break;
      waiting.delete(token);
      w.reject(new PublishError(`no acknowledgement within ${timeoutMs} ms`));
    }
  }, Math.min(250, timeoutMs));
  sweep.unref();

  // Header objects are costly to build (key canonicalisation, validation) and are only encoded when a
  // message is sent, so identical ones are shared: every create of a fresh key carries the same one.
  const shared = new Map<string, MsgHdrs>();
  const headersFor = (h: PublishHeaders | undefined): MsgHdrs | undefined => {
    if (h === undefined || (h.expectedLastSubjectSequence === undefined && h.kvOperation === undefined)) return undefined;
    const common = h.expectedLastSubjectSequence === undefined || h.expectedLastSubjectSequence === 0;
    const id = common ? `${h.expectedLastSubjectSequence ?? "-"}|${h.kvOperation ?? ""}` : undefined;
    if (id !== undefined) {
      const known = shared.get(id);
      if (known !== undefined) return known;
    }
    const m = makeHeaders();
    if (h.expectedLastSubjectSequence !== undefined) m.set("Nats-Expected-Last-Subject-Sequence", String(h.expectedLastSubjectSequence));
    if (h.kvOperation !== undefined) m.set("KV-Operation", h.kvOperation);
    if (id !== undefined) shared.set(id, m);
    return m;
  };

  return {
    publish: (subject, data, h) =>
      new Promise<number>((resolve, reject) => {
        if (closed || nc.isClosed()) {
          reject(new PublishError("connection closed"));
          return;
        }
        if (lost !== undefined) {
          reject(lost);
          return;
        }
        const token = (next++).toString(36);
        waiting.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
        const hdrs = headersFor(h);
        try {
          nc.publish(subject, data, hdrs === undefined ? { reply: `${inbox}.${token}` } : { reply: `${inbox}.${token}`, headers: hdrs });
        } catch (e) {
          waiting.delete(token);
          reject(new PublishError(errorMessage(e)));
        }
      }),
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      clearTimeout(lostTimer);
      sub.unsubscribe();
      for (const w of waiting.values()) w.reject(new PublishError("publisher closed"));
      waiting.clear();
    },
  };
};
