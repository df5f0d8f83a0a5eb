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
import type { EntryClaims } from "./SignedEntry.ts";
import { batchOf, batchOfBytes, type SignedBatch } from "./SignedBatch.ts";
import { ENTRIES_PER_TREE, signEntries, type BatchOptions, type TreeSigningKey } from "./SignedTree.ts";
import { DEVICE_SEPARATOR, SIGNING_WORKER, type FromWorker, type SignRequest } from "./SigningWorker.ts";

interface Pending {
  /** Cleared when the worker answers (or is stopped) first. */
  readonly timer: ReturnType<typeof setTimeout>;
  readonly resolve: (s: SignedBatch) => void;
  readonly reject: (e: Error) => void;
  /** The same signing on the calling thread, should the worker stop before it answers. */
  readonly here: () => Promise<SignedBatch>;
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
    // No inherited flags: a process run with `--import tsx` would load the TypeScript loader into the worker too, which
    // doubles its start-up; the worker module needs none (plain JavaScript, or it registers tsx itself from the sources).
    worker = new Worker(workerUrl(), { workerData: SIGNING_WORKER, execArgv: [] });
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
    p.resolve(batchOfBytes(new Uint8Array(m.json), new Uint32Array(m.ends)));
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
 * Starts the worker when `count` entries are about to be signed and that many would go to it: a
 * big apply's thread boots while the apply reads and locks, a small one's never starts.
 */
export const prepareSigning = (count: number): void => {
  if (count > OFF_THREAD_FROM) start();
};

/**
 * Signs entries as `signEntries` does (trees of ENTRIES_PER_TREE, signatures in the entries' order):
 * on the worker once it is ready (one message for all the trees of one call), else here.
 */
export const signOffThread = (entries: ReadonlyArray<EntryClaims>, key: TreeSigningKey, options: BatchOptions): Promise<SignedBatch> =>
  // A call of a tree or two is signed here: the round trip to the thread costs more than it saves.
  entries.length <= OFF_THREAD_FROM ? signEntries(entries, key, options).then(batchOf) : signOnWorker(entries, key, options);

/**
 * `signOffThread` without the size rule: any call goes to the worker once it is ready (the laws use it to
 * cross threads with small batches). `timeoutMs` replaces the time the worker is given to answer.
 */
export const signOnWorker = (
  entries: ReadonlyArray<EntryClaims>,
  key: TreeSigningKey,
  options: BatchOptions,
  timeoutMs: number = REQUEST_TIMEOUT_MS + Math.ceil((entries.length * REQUEST_TIMEOUT_US_PER_ENTRY) / 1000),
): Promise<SignedBatch> => {
  const here = (): Promise<SignedBatch> => signEntries(entries, key, options).then(batchOf);
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
    t.pending.set(id, { timer, resolve, reject, here });
    t.worker.postMessage({
      id,
      kid: key.kid,
      ...(first ? { privateKey: key.privateKey } : {}),
      ...claimColumns(entries),
      issuedAt: options.issuedAt.getTime(),
      expiresAt: options.expiresAt.getTime(),
      plan: options.plan,
    } satisfies SignRequest);
  });
};

/** A request's claims as flat fields (SignRequest): a 100k-entry apply sends one string and three small tables, not 100k texts. */
const claimColumns = (entries: ReadonlyArray<EntryClaims>): Pick<SignRequest, "devices" | "kinds" | "kindOf" | "revisions"> => {
  // Deployment, then spec hash: no string built per entry to look a pair up.
  const index = new Map<string, Map<string, number>>();
  const kinds: Array<readonly [string, string]> = [];
  const kindOf = new Uint32Array(entries.length);
  const revisions = new Float64Array(entries.length);
  const devices = new Array<string>(entries.length);
  entries.forEach((e, i) => {
    let byHash = index.get(e.deployment);
    if (byHash === undefined) index.set(e.deployment, (byHash = new Map()));
    let k = byHash.get(e.specHash);
    if (k === undefined) {
      byHash.set(e.specHash, (k = kinds.length));
      kinds.push([e.deployment, e.specHash]);
    }
    kindOf[i] = k;
    revisions[i] = e.revision;
    devices[i] = e.device;
  });
  return { devices: devices.join(DEVICE_SEPARATOR), kinds, kindOf, revisions };
};

/** Stops the worker (tests, benchmarks: each measured apply starts its own); the next signing starts another. */
export const stopSigningThread = async (): Promise<void> => {
  if (thread !== undefined) await retire(thread);
};
