/**
 * Applying a plan to `desired-state`.
 *
 * 1. Take the apply lock (Lock.ts); busy beyond the wait: `Locked`, nothing written.
 * 2. Check every entry the plan touches is still at the revision the plan saw
 *    (create: no entry, or a tombstone; update/delete: revision == fingerprint).
 *    Any mismatch refuses the whole plan (`Stale`), nothing written.
 * 3. Write every action compare-and-set on the revision just checked (a
 *    create on 0 or its tombstone's revision), many writes in flight at once
 *    within a bounded window. A refused or failed write fails that action
 *    only; if the lock is lost meanwhile, the actions not yet sent fail.
 *    If the server is lost (the connection down longer than the publisher's
 *    `lostAfterMs`, 10 s by default), the apply stops sending and fails as a
 *    whole with one `BackendUnavailableError` line that counts what was
 *    applied and what was not: per-write timeouts would take minutes and
 *    report every remaining action.
 *    With `options.sign`, every Create and Update is signed (SIGN_CHUNK
 *    entries per call, a chunk or two ahead of the writes; a big apply's
 *    signer hashes and signs on a worker thread, src/trust/SigningThread.ts)
 *    and carries its signature (wire.ts); a failed signing fails the actions
 *    of its chunk.
 *    The plan's rollout ledger records (`Plan.ledger`, bucket `fleet-rollouts`)
 *    are written first, under the same lock: a ledger ahead of its entries
 *    is what the next step reads and completes, while entries ahead of their
 *    ledger would lose the priors rollback needs. If a ledger write fails,
 *    no entry is written (every action fails with why).
 *    An apply made inside `exclusive` (index.ts) skips steps 1 and 4: it
 *    uses the lock its caller holds.
 * 4. Release the lock (if the server is lost, it cannot be deleted: it
 *    expires `lockTtlMs` after its last renewal, whenever the server returns).
 *
 * Outcomes are in plan order, one per action.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { expectedFingerprint, type StaleEntry } from "../../diff/Apply.ts";
import { isEmptyPlan, type Action, type Plan } from "../../diff/Plan.ts";
import { ledgerWriteKey, type LedgerWrite } from "../../diff/Ledger.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { entryKey } from "../../algebra/Name.ts";
import type { ExitReleases } from "../ExitReleases.ts";
import { BackendUnavailableError, type ActionOutcome, type ApplyOptions, type ApplyResult } from "../Interpreter.ts";
import { forEachConcurrently, indexes } from "../Pool.ts";
import { BUCKET, subjectPrefixOf } from "./Buckets.ts";
import { describeHolder, type ApplyLock, type HeldLock } from "./Lock.ts";
import { PublishError, ServerLostError, WRONG_LAST_SEQUENCE, type AckPublisher } from "./Publisher.ts";
import { scanLatest } from "./Scan.ts";
import { encodeDesiredValue, encodeRolloutValue, encodeSignedDesiredValue, rolloutBucketKey } from "./wire.ts";
import type { SignedBatch } from "../../trust/SignedBatch.ts";
import { ENTRIES_PER_TREE } from "../../trust/SignedTree.ts";
import type { EntryToSign, SignEntries } from "../../trust/Signer.ts";

export interface ApplyDeps {
  readonly js: JetStreamClient;
  readonly desired: KV;
  readonly rollouts: KV;
  readonly publisher: AckPublisher;
  readonly lock: ApplyLock;
  readonly owner: string;
  readonly lockTtlMs: number;
  readonly lockWaitMs: number;
  /** Writes in flight at once. */
  readonly window: number;
  /** Where the held lock's release is registered (signals, crashes). */
  readonly exitReleases?: ExitReleases;
  /** The lock the caller already holds (`exclusive`): used as it is, and left held. */
  readonly held?: HeldLock;
}

/** Below this many actions, the current revisions are fetched key by key; above, one headers-only scan. */
const PER_KEY_CHECK_LIMIT = 256;

interface Current {
  readonly revision: number;
  readonly live: boolean;
}

const keyOf = (a: Action): string => entryKey(a.device, a.deployment);

const currentRevisions = async (deps: ApplyDeps, actions: ReadonlyArray<Action>): Promise<Map<string, Current>> => {
  const out = new Map<string, Current>();
  if (actions.length > PER_KEY_CHECK_LIMIT) {
    for (const e of await scanLatest(deps.js, BUCKET.desired, { headersOnly: true })) {
      out.set(e.key, { revision: e.revision, live: e.operation === "PUT" });
    }
    return out;
  }
  await Promise.all(
    actions.map(async (a) => {
      const e = await deps.desired.get(keyOf(a));
      if (e !== null) out.set(keyOf(a), { revision: e.revision, live: e.operation === "PUT" });
    }),
  );
  return out;
};

/**
 * Entries per `sign` call: several trees, so that a signer that hands them to another thread sends
 * few messages; and how many such calls are made ahead of the writes that need them.
 */
const SIGN_CHUNK = 8 * ENTRIES_PER_TREE;
const SIGN_AHEAD = 2;

/**
 * The signature of each Create and Update, by action index (Deletes carry none), as the JSON
 * bytes that go into its value (SignedBatch.ts), signed a chunk (SIGN_CHUNK writes) at a time as
 * the writes reach it, a chunk or two ahead: the signing overlaps the writes' round trips instead
 * of delaying the first write. A signed chunk's signatures are returned as they are, not through
 * another promise: 100k writes would make 100k of them.
 */
const lazySignatures = (actions: ReadonlyArray<Action>, sign: SignEntries): ((i: number) => Uint8Array | undefined | Promise<Uint8Array | undefined>) => {
  const position = new Array<number>(actions.length).fill(-1);
  const entries: EntryToSign[] = [];
  actions.forEach((a, i) => {
    if (a._tag === "Delete") return;
    position[i] = entries.length;
    entries.push(a);
  });
  const chunks: Array<Promise<SignedBatch> | undefined> = [];
  const signed: Array<SignedBatch | undefined> = [];
  const request = (c: number): void => {
    const start = c * SIGN_CHUNK;
    if (start >= entries.length || chunks[c] !== undefined) return;
    const p = sign(entries.slice(start, start + SIGN_CHUNK));
    chunks[c] = p;
    // A failure is reported by the writes that await this tree.
    p.then((s) => void (signed[c] = s), () => undefined);
  };
  return (i) => {
    const pos = position[i] as number;
    if (pos < 0) return undefined;
    const c = Math.floor(pos / SIGN_CHUNK);
    // Keep SIGN_AHEAD chunks asked for beyond the one being written (an array look-up once asked).
    request(c + SIGN_AHEAD);
    const ready = signed[c];
    if (ready !== undefined) return ready.json(pos - c * SIGN_CHUNK);
    for (let k = 0; k < SIGN_AHEAD; k++) request(c + k);
    return (chunks[c] as Promise<SignedBatch>).then((s) => s.json(pos - c * SIGN_CHUNK));
  };
};

const describeWriteError = (e: unknown): string => {
  if (e instanceof PublishError && e.code === WRONG_LAST_SEQUENCE) return `changed concurrently, not written (${e.message})`;
  return errorMessage(e);
};

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** Writes the ledger records; `undefined` when all were written, else why not. */
const writeLedger = async (deps: ApplyDeps, writes: ReadonlyArray<LedgerWrite>): Promise<string | undefined> => {
  for (const w of writes) {
    const key = rolloutBucketKey(ledgerWriteKey(w));
    try {
      if (w._tag === "Put") await deps.rollouts.put(key, encodeRolloutValue(w.record));
      else await deps.rollouts.delete(key);
    } catch (e) {
      return `rollout ledger ${ledgerWriteKey(w)} not written: ${errorMessage(e)}`;
    }
  }
  return undefined;
};

export const applyToNats = async (deps: ApplyDeps, plan: Pick<Plan, "actions" | "ledger">, options: ApplyOptions = {}): Promise<ApplyResult> => {
  const actions = plan.actions;
  if (isEmptyPlan(plan)) return { _tag: "Completed", outcomes: [] };
  // The signer learns how much is coming while the lock and the current revisions are read.
  options.sign?.prepare?.(actions.reduce((n, a) => (a._tag === "Delete" ? n : n + 1), 0));

  const acquired = deps.held !== undefined ? { _tag: "Acquired" as const, lock: deps.held } : await deps.lock.acquire(deps.owner, {
    ttlMs: deps.lockTtlMs,
    waitMs: deps.lockWaitMs,
    ...(deps.exitReleases !== undefined ? { exitReleases: deps.exitReleases } : {}),
  });
  if (acquired._tag === "Busy") {
    const holder = describeHolder(acquired);
    return acquired.until === undefined ? { _tag: "Locked", holder } : { _tag: "Locked", holder, until: acquired.until };
  }
  const lock = acquired.lock;
  try {
    const current = await currentRevisions(deps, actions);
    const stale: StaleEntry[] = [];
    const expectedSeq = new Array<number>(actions.length);
    actions.forEach((a, i) => {
      const c = current.get(keyOf(a));
      const found = c !== undefined && c.live ? String(c.revision) : null;
      const expected = expectedFingerprint(a);
      if (found !== expected) stale.push({ device: a.device, deployment: a.deployment, expected, found });
      // A create compare-and-sets on the tombstone a delete left, or on 0 for a key never written.
      expectedSeq[i] = c === undefined ? 0 : c.revision;
    });
    if (stale.length > 0) return { _tag: "Stale", stale };

    const ledgerError = await writeLedger(deps, plan.ledger ?? []);
    if (ledgerError !== undefined) {
      if (actions.length === 0) throw new BackendUnavailableError(`NATS: ${ledgerError}`);
      return { _tag: "Completed", outcomes: actions.map((action) => ({ _tag: "Failed", action, error: ledgerError })) };
    }

    // Signed only once the plan is known to apply: the revisions it read are the keys' latest.
    const signatureOf = options.sign === undefined ? undefined : lazySignatures(actions, options.sign);

    const prefix = subjectPrefixOf(BUCKET.desired);
    const empty = new Uint8Array(0);
    const outcomes = new Array<ActionOutcome>(actions.length);
    const total = actions.length;
    let done = 0;
    let failed = 0;
    let applied = 0;
    let serverLost = false;
    const step = Math.max(1, Math.min(1000, Math.ceil(total / 100)));
    const settle = (i: number, o: ActionOutcome): void => {
      outcomes[i] = o;
      done++;
      if (o._tag === "Failed") failed++;
      else applied++;
      if (options.onProgress !== undefined && (done % step === 0 || done === total)) options.onProgress({ done, total, failed });
    };

    const writeOne = async (i: number): Promise<void> => {
      const action = actions[i] as Action;
      if (lock.isLost()) {
        settle(i, { _tag: "Failed", action, error: `not written: ${await lock.lost}` });
        return;
      }
      const subject = prefix + keyOf(action);
      const expected = expectedSeq[i] as number;
      try {
        if (action._tag === "Delete") {
          await deps.publisher.publish(subject, empty, { expectedLastSubjectSequence: expected, kvOperation: "DEL" });
          settle(i, { _tag: "Applied", action });
        } else {
          const pending = signatureOf?.(i);
          const signature = pending instanceof Promise ? await pending : pending;
          const value = signature === undefined ? encodeDesiredValue(action.spec, action.specHash, undefined, action.prior) : encodeSignedDesiredValue(action.spec, action.specHash, signature, action.prior);
          const seq = await deps.publisher.publish(subject, value, {
            expectedLastSubjectSequence: expected,
          });
          settle(i, { _tag: "Applied", action, fingerprint: String(seq) });
        }
      } catch (e) {
        if (e instanceof ServerLostError) serverLost = true;
        settle(i, { _tag: "Failed", action, error: describeWriteError(e) });
      }
    };

    // Once the server is lost, the remaining writes are not attempted (one counted line, below).
    await forEachConcurrently(indexes(total), deps.window, async (i) => {
      if (!serverLost) await writeOne(i);
    });
    if (serverLost) {
      // Writes that failed before the loss (a refused compare-and-set) are among the "not applied" too.
      const notApplied = total - applied;
      throw new BackendUnavailableError(
        `NATS server lost after ${applied} of ${plural(total, "action", "actions")} applied; ${notApplied} not applied (writes sent just before the loss may have been stored); ` +
          `the apply lock, unless released, expires ${Math.round(deps.lockTtlMs / 1000)} s after its last renewal; run fleet plan again`,
      );
    }
    return { _tag: "Completed", outcomes };
  } finally {
    if (deps.held === undefined) await lock.release();
  }
};
