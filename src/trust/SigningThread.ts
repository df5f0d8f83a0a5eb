/**
 * Signing off the apply thread: a worker thread (SigningWorker.ts) that
 * hashes the leaves, builds the trees and proofs and makes the signatures of
 * an apply's entries while the apply thread encodes and publishes. Hashing is
 * most of what signing costs (two SHA-256 calls per entry: its leaf and one
 * interior node), and an apply is CPU-bound on its own thread, so this work
 * done beside it, not inside it, keeps a signed apply near an unsigned one
 * wherever a second core has time to spare.
 *
 * One worker per process, started on first use and kept: a control plane
 * applies again and again. It is unref'd while nothing waits on it, so it
 * never keeps a process alive. Until it reports ready (and for good if it
 * cannot start or dies), trees are signed on the calling thread: a signing
 * never waits for the worker to boot and never depends on it. Both threads
 * sign with `signTree`, and Ed25519 is deterministic, so what either signs is
 * the same bytes (test/laws/signing-thread.test.ts).
 *
 * A request the worker does not answer in time (REQUEST_TIMEOUT_MS plus a
 * share per entry far above what signing takes) is signed on the calling
 * thread, and that worker is retired: the next signing starts another. An
 * apply never waits on a worker that stopped answering.
 */
import { Worker } from "node:worker_threads";
import type { EntryClaims, EntrySignature } from "./SignedEntry.ts";
import { ENTRIES_PER_TREE, entrySignatures, leafText, signEntries, type BatchOptions, type TreeSigningKey } from "./SignedTree.ts";
import { LEAF_SEPARATOR, PROOF_SEPARATOR, SIGNING_WORKER, type FromWorker, type SignRequest } from "./SigningWorker.ts";

interface Pending {
  /** Cleared when the worker answers (or is stopped) first. */
  readonly timer: ReturnType<typeof setTimeout>;
  readonly resolve: (s: ReadonlyArray<EntrySignature>) => void;
  readonly reject: (e: Error) => void;
  /** The same signing on the calling thread, should the worker stop before it answers. */
  readonly here: () => Promise<ReadonlyArray<EntrySignature>>;
  readonly entries: ReadonlyArray<EntryClaims>;
}

interface Thread {
  readonly worker: Worker;
  ready: boolean;
  readonly pending: Map<number, Pending>;
  /** The kids whose private key the worker has been sent. */
  readonly keys: Set<string>;
}

let thread: Thread | undefined;
/** Calls with more entries than this go to the worker; smaller ones are signed on the calling thread. */
const OFF_THREAD_FROM = 2 * ENTRIES_PER_TREE;

/** The time a worker may take to answer a request before it is signed here instead: a base, and per entry (µs). */
const REQUEST_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_US_PER_ENTRY = 100;

/** Set once the worker failed to start or died: sign on the calling thread from then on. */
let unavailable = false;
let nextId = 0;

/** From the sources (`.ts`) the worker registers tsx first (SigningWorker.sources.mjs); from dist/ it is plain JavaScript. */
const workerUrl = (): URL => new URL(import.meta.url.endsWith(".ts") ? "./SigningWorker.sources.mjs" : "./SigningWorker.js", import.meta.url);

/** What the worker had not answered is signed here instead. */
const signPendingHere = (t: Thread): void => {
  for (const p of t.pending.values()) {
    clearTimeout(p.timer);
    p.here().then(p.resolve, p.reject);
  }
  t.pending.clear();
};

/** Retires a worker (stopped, or it let a request time out): what it holds is signed here, and the next signing starts another. */
const retire = (t: Thread): Promise<number> => {
  if (thread === t) thread = undefined;
  t.worker.removeAllListeners("exit");
  t.worker.removeAllListeners("error");
  signPendingHere(t);
  return t.worker.terminate();
};

const start = (): Thread | undefined => {
  if (unavailable) return undefined;
  if (thread !== undefined) return thread;
  let worker: Worker;
  try {
    worker = new Worker(workerUrl(), { workerData: SIGNING_WORKER });
  } catch {
    unavailable = true;
    return undefined;
  }
  worker.unref();
  const t: Thread = { worker, ready: false, pending: new Map(), keys: new Set() };
  worker.on("message", (m: FromWorker) => {
    if (m._tag === "Ready") {
      t.ready = true;
      return;
    }
    const p = t.pending.get(m.id);
    if (p === undefined) return;
    t.pending.delete(m.id);
    clearTimeout(p.timer);
    if (t.pending.size === 0) worker.unref();
    if (m._tag === "Failed") {
      p.reject(new Error(m.message));
      return;
    }
    const proofs = m.proofs.split(PROOF_SEPARATOR);
    const out: EntrySignature[] = [];
    m.jws.forEach((jws, k) => {
      const from = k * ENTRIES_PER_TREE;
      out.push(...entrySignatures(p.entries.slice(from, from + ENTRIES_PER_TREE), { jws, proofs: proofs.slice(from, from + ENTRIES_PER_TREE) }));
    });
    p.resolve(out);
  });
  const lost = (): void => {
    unavailable = true;
    if (thread === t) thread = undefined;
    signPendingHere(t);
  };
  worker.on("error", lost);
  worker.on("exit", lost);
  thread = t;
  return t;
};

/** Where the worker is: tests and benchmarks check that it did the signing they measure. */
export const signingThreadState = (): "stopped" | "starting" | "ready" | "unavailable" =>
  unavailable ? "unavailable" : thread === undefined ? "stopped" : thread.ready ? "ready" : "starting";

/** Starts the worker if it is not running, so that it is ready by the time an apply's later trees come. */
export const warmSigningThread = (): void => {
  start();
};

/**
 * Signs entries as `signEntries` does (trees of ENTRIES_PER_TREE, signatures in the entries' order):
 * on the worker once it is ready (one message for all the trees of one call), else here.
 */
export const signOffThread = (entries: ReadonlyArray<EntryClaims>, key: TreeSigningKey, options: BatchOptions): Promise<ReadonlyArray<EntrySignature>> =>
  // A call of a tree or two is signed here: the round trip to the thread costs more than it saves.
  entries.length <= OFF_THREAD_FROM ? signEntries(entries, key, options) : signOnWorker(entries, key, options);

/**
 * `signOffThread` without the size rule: any call goes to the worker once it is ready (the laws use it to
 * cross threads with small batches). `timeoutMs` replaces the time the worker is given to answer.
 */
export const signOnWorker = (
  entries: ReadonlyArray<EntryClaims>,
  key: TreeSigningKey,
  options: BatchOptions,
  timeoutMs: number = REQUEST_TIMEOUT_MS + Math.ceil((entries.length * REQUEST_TIMEOUT_US_PER_ENTRY) / 1000),
): Promise<ReadonlyArray<EntrySignature>> => {
  const here = (): Promise<ReadonlyArray<EntrySignature>> => signEntries(entries, key, options);
  const t = start();
  if (t === undefined || !t.ready) return here();
  const first = !t.keys.has(key.kid);
  t.keys.add(key.kid);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    if (t.pending.size === 0) t.worker.ref();
    const timer = setTimeout(() => {
      if (t.pending.has(id)) void retire(t).catch(() => undefined);
    }, timeoutMs);
    t.pending.set(id, { timer, resolve, reject, here, entries });
    t.worker.postMessage({
      id,
      kid: key.kid,
      ...(first ? { privateKey: key.privateKey } : {}),
      leaves: entries.map(leafText).join(LEAF_SEPARATOR),
      issuedAt: options.issuedAt.getTime(),
      expiresAt: options.expiresAt.getTime(),
      plan: options.plan,
    } satisfies SignRequest);
  });
};

/** Stops the worker (tests, benchmarks: each measured apply starts its own); the next signing starts another. */
export const stopSigningThread = async (): Promise<void> => {
  if (thread !== undefined) await retire(thread);
};
