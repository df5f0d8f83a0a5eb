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
 *   released by its old holder); while held, the release is registered with
 *   the process's `ExitReleases` (when given), so a signal releases it too;
 * - break (`fleet force-unlock --backend nats LOCK_ID`): delete at the
 *   revision read, only when the caller names the holder's lock ID, for a
 *   holder known dead that should not block until its TTL runs out.
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
import { nuid } from "@nats-io/transport-node";
import { noExitReleases, type ExitReleases } from "../ExitReleases.ts";

export const LOCK_KEY = "apply";

/** `id` (optional: older writers did not record one) is what `force-unlock` names. */
export const LockValueV1 = t.intersection([
  t.type({ v: t.literal(1), owner: t.string, acquired: t.string, expires: t.string }),
  t.partial({ id: t.string }),
]);

export interface LockHolder {
  readonly owner: string;
  /** The lock ID to name to break it; the owner itself for a lock written without one. */
  readonly id: string;
  readonly expires: Date;
}

export type Acquired =
  | { readonly _tag: "Acquired"; readonly lock: HeldLock }
  | { readonly _tag: "Busy"; readonly holder: string; readonly id?: string; readonly until?: Date };

/** One line naming a holder, for messages. */
export const describeHolder = (h: { readonly holder: string; readonly id?: string }): string =>
  h.id === undefined ? h.holder : `${h.holder} (lock ID ${h.id})`;

export class LockBreakError extends Error {
  override readonly name = "LockBreakError";
}

export interface HeldLock {
  readonly owner: string;
  readonly id: string;
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
  /** Where the release is registered while the lock is held (signals, crashes). */
  readonly exitReleases?: ExitReleases;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const encodeLock = (owner: string, id: string, acquired: Date, expires: Date): Uint8Array =>
  encoder.encode(JSON.stringify({ v: WIRE_VERSION, owner, id, acquired: acquired.toISOString(), expires: expires.toISOString() }));

const decodeLock = (bytes: Uint8Array): E.Either<string, LockHolder> => {
  try {
    const r = LockValueV1.decode(JSON.parse(decoder.decode(bytes)));
    if (E.isLeft(r)) return E.left("unreadable lock value");
    const expires = new Date(r.right.expires);
    return Number.isNaN(expires.getTime()) ? E.left("unreadable lock expiry") : E.right({ owner: r.right.owner, id: r.right.id ?? r.right.owner, expires });
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
          return { _tag: "Busy", holder: holder.right.owner, id: holder.right.id, until: holder.right.expires };
        }
      }
    }
    const expires = new Date(now.getTime() + options.ttlMs);
    const id = nuid.next();
    let revision: number;
    try {
      revision = await deps.publisher.publish(subject, encodeLock(owner, id, now, expires), { expectedLastSubjectSequence: expected });
    } catch (e) {
      if (isCasConflict(e)) {
        // Someone else got there between our read and our write: report them.
        const again = await deps.kv.get(LOCK_KEY);
        const h = again !== null && again.operation === "PUT" ? decodeLock(again.value) : E.left("gone");
        return E.isRight(h) ? { _tag: "Busy", holder: h.right.owner, id: h.right.id, until: h.right.expires } : { _tag: "Busy", holder: "unknown" };
      }
      throw e;
    }
    return { _tag: "Acquired", lock: hold(owner, id, revision, options) };
  };

  const hold = (owner: string, id: string, firstRevision: number, options: LockOptions): HeldLock => {
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
        .publish(subject, encodeLock(owner, id, now, new Date(now.getTime() + options.ttlMs)), { expectedLastSubjectSequence: revision })
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
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      unregister();
      clearInterval(renewer);
      await renewing;
      if (lostWhy !== undefined) return;
      // From here on the holder writes nothing more under this lock (an apply interrupted by a signal stops).
      markLost("the apply was interrupted");
      try {
        await deps.publisher.publish(subject, new Uint8Array(0), { expectedLastSubjectSequence: revision, kvOperation: "DEL" });
      } catch {
        // Not ours any more, or the server is away: the lock expires on its own.
      }
    };
    const unregister = (options.exitReleases ?? noExitReleases).add(release);
    return { owner, id, lost, isLost: () => lostWhy !== undefined, release };
  };

  /**
   * Breaks the lock whose ID is `id` (`fleet force-unlock --backend nats`),
   * held or expired, compare-and-set at the revision read; returns who held it.
   */
  const breakLock = async (id: string): Promise<LockHolder> => {
    const current = await deps.kv.get(LOCK_KEY);
    if (current === null || current.operation !== "PUT") throw new LockBreakError("the NATS apply lock is not held");
    const holder = decodeLock(current.value);
    // An unreadable value is broken by naming it so, as the local backend's unreadable lock file.
    const found = E.isRight(holder) ? holder.right : { owner: "unknown", id: "unreadable", expires: new Date(0) };
    if (found.id !== id) throw new LockBreakError(`lock ID ${JSON.stringify(id)} does not match the NATS apply lock held by ${describeHolder({ holder: found.owner, id: found.id })}`);
    try {
      await deps.publisher.publish(subject, new Uint8Array(0), { expectedLastSubjectSequence: current.revision, kvOperation: "DEL" });
    } catch (e) {
      if (isCasConflict(e)) throw new LockBreakError("the NATS apply lock changed while breaking it (renewed or taken); nothing was removed");
      throw e;
    }
    return found;
  };

  /** The current holder, or undefined when the lock is free. */
  const holder = async (): Promise<LockHolder | undefined> => {
    const current = await deps.kv.get(LOCK_KEY);
    if (current === null || current.operation !== "PUT") return undefined;
    const h = decodeLock(current.value);
    return E.isRight(h) ? h.right : { owner: "unknown (unreadable lock value)", id: "unreadable", expires: new Date(0) };
  };

  return {
    breakLock,
    holder,
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
