/**
 * The apply lock, kept in NATS itself: key `apply` of the `fleet-locks` bucket.
 *
 * Protocol (every step compare-and-set on the key's revision):
 * - acquire: create the key (expected revision 0, or the tombstone's revision
 *   after a release) with `{ owner, acquired, expires }`;
 * - held by someone else and not expired: refused, with the holder and expiry;
 * - expired (its holder crashed or stalled): taken over by an update at the
 *   revision that was read, so of two contenders exactly one wins;
 * - renew: update at the holder's own revision, pushing `expires` forward;
 *   failing means the lock was lost (taken over after expiry);
 * - release: delete at the holder's own revision (a lost lock is never
 *   released by its old holder).
 *
 * Expiry is judged with the contender's clock against the holder's recorded
 * `expires`: clocks must agree to well within the TTL.
 */
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import type { KV } from "@nats-io/kv";
import { BUCKET, subjectPrefixOf } from "./Buckets.ts";
import { PublishError, WRONG_LAST_SEQUENCE, type AckPublisher } from "./Publisher.ts";
import { WIRE_VERSION } from "./wire.ts";

export const LOCK_KEY = "apply";

export const LockValueV1 = t.type({ v: t.literal(1), owner: t.string, acquired: t.string, expires: t.string });

export interface LockHolder {
  readonly owner: string;
  readonly expires: Date;
}

export type Acquired =
  | { readonly _tag: "Acquired"; readonly lock: HeldLock }
  | { readonly _tag: "Busy"; readonly holder: string; readonly until?: Date };

export interface HeldLock {
  readonly owner: string;
  /** Resolves (never rejects) when the lock is lost, with why. */
  readonly lost: Promise<string>;
  readonly isLost: () => boolean;
  release(): Promise<void>;
}

export interface LockOptions {
  readonly ttlMs: number;
  /** How long to wait for a busy lock before giving up, ms (0: do not wait). */
  readonly waitMs: number;
  readonly now?: () => Date;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const encodeLock = (owner: string, acquired: Date, expires: Date): Uint8Array =>
  encoder.encode(JSON.stringify({ v: WIRE_VERSION, owner, acquired: acquired.toISOString(), expires: expires.toISOString() }));

const decodeLock = (bytes: Uint8Array): E.Either<string, LockHolder> => {
  try {
    const r = LockValueV1.decode(JSON.parse(decoder.decode(bytes)));
    if (E.isLeft(r)) return E.left("unreadable lock value");
    const expires = new Date(r.right.expires);
    return Number.isNaN(expires.getTime()) ? E.left("unreadable lock expiry") : E.right({ owner: r.right.owner, expires });
  } catch {
    return E.left("unreadable lock value");
  }
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const isCasConflict = (e: unknown): boolean => e instanceof PublishError && e.code === WRONG_LAST_SEQUENCE;

export const applyLock = (deps: { readonly kv: KV; readonly publisher: AckPublisher }) => {
  const subject = `${subjectPrefixOf(BUCKET.locks)}${LOCK_KEY}`;

  /** One attempt: Acquired, or Busy with the current holder. */
  const tryAcquire = async (owner: string, options: LockOptions): Promise<Acquired> => {
    const now = (options.now ?? (() => new Date()))();
    const current = await deps.kv.get(LOCK_KEY);
    let expected = 0;
    if (current !== null) {
      expected = current.revision;
      if (current.operation === "PUT") {
        const holder = decodeLock(current.value);
        // An unreadable lock value is treated as expired: it must not block every apply forever.
        if (E.isRight(holder) && holder.right.expires.getTime() > now.getTime()) {
          return { _tag: "Busy", holder: holder.right.owner, until: holder.right.expires };
        }
      }
    }
    const expires = new Date(now.getTime() + options.ttlMs);
    let revision: number;
    try {
      revision = await deps.publisher.publish(subject, encodeLock(owner, now, expires), { expectedLastSubjectSequence: expected });
    } catch (e) {
      if (isCasConflict(e)) {
        // Someone else got there between our read and our write: report them.
        const again = await deps.kv.get(LOCK_KEY);
        const h = again !== null && again.operation === "PUT" ? decodeLock(again.value) : E.left("gone");
        return E.isRight(h) ? { _tag: "Busy", holder: h.right.owner, until: h.right.expires } : { _tag: "Busy", holder: "unknown" };
      }
      throw e;
    }
    return { _tag: "Acquired", lock: hold(owner, revision, options) };
  };

  const hold = (owner: string, firstRevision: number, options: LockOptions): HeldLock => {
    let revision = firstRevision;
    let lostWhy: string | undefined;
    let released = false;
    let resolveLost: (why: string) => void = () => undefined;
    const lost = new Promise<string>((r) => (resolveLost = r));
    const markLost = (why: string): void => {
      if (lostWhy !== undefined) return;
      lostWhy = why;
      clearInterval(renewer);
      resolveLost(why);
    };
    let renewing: Promise<void> | undefined;
    let validUntil = Date.now() + options.ttlMs;
    const renewer = setInterval(() => {
      if (renewing !== undefined || released) return;
      if (Date.now() > validUntil) {
        // Unrenewed past its expiry: another apply may hold it now.
        markLost("the apply lock expired before it could be renewed");
        return;
      }
      const now = (options.now ?? (() => new Date()))();
      const sent = Date.now();
      renewing = deps.publisher
        .publish(subject, encodeLock(owner, now, new Date(now.getTime() + options.ttlMs)), { expectedLastSubjectSequence: revision })
        .then(
          (r) => {
            revision = r;
            validUntil = sent + options.ttlMs;
          },
          (e: unknown) => {
            if (isCasConflict(e)) markLost("the apply lock was taken over after it expired");
            // Other failures (timeouts while the server restarts) are retried on the next tick.
          },
        )
        .finally(() => (renewing = undefined));
    }, Math.max(50, Math.floor(options.ttlMs / 3)));
    renewer.unref();
    return {
      owner,
      lost,
      isLost: () => lostWhy !== undefined,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renewer);
        await renewing;
        if (lostWhy !== undefined) return;
        try {
          await deps.publisher.publish(subject, new Uint8Array(0), { expectedLastSubjectSequence: revision, kvOperation: "DEL" });
        } catch {
          // Not ours any more, or the server is away: the lock expires on its own.
        }
      },
    };
  };

  return {
    /** Acquires the lock, waiting up to `waitMs` for a busy one (polling with backoff). */
    acquire: async (owner: string, options: LockOptions): Promise<Acquired> => {
      const deadline = Date.now() + options.waitMs;
      let pause = 25;
      for (;;) {
        const r = await tryAcquire(owner, options);
        if (r._tag === "Acquired" || Date.now() + pause > deadline) return r;
        await sleep(pause);
        pause = Math.min(pause * 2, 500);
      }
    },
  };
};

export type ApplyLock = ReturnType<typeof applyLock>;
