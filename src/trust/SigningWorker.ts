/**
 * The worker side of SigningThread.ts: one tree per message, signed with
 * `signTree`, the same function the apply thread uses. Ed25519 signatures are
 * deterministic, so the two threads give the same bytes
 * (test/laws/signing-thread.test.ts).
 *
 * Messages are few and flat on purpose: each one costs the apply thread (a
 * copy, and a wake-up of the other thread that a busy machine makes slow),
 * so a request carries several trees' leaf texts in one string and the
 * reply their JWSs and their proofs in one string.
 *
 * Messages come only from SigningThread.ts in the same process, so they are
 * not outside data and carry no codec; every request is answered, a failed
 * one with its error's message.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { KeyObject } from "node:crypto";
import { ENTRIES_PER_TREE, signTree, type SignedTree, type TreeSigningKey } from "./SignedTree.ts";

/** Separates leaf texts in a request (no claim holds a NUL) and proofs in a reply (not in base64url). */
export const LEAF_SEPARATOR = "\u0000";
export const PROOF_SEPARATOR = ".";

/** The `workerData` SigningThread.ts starts this module with: loaded anywhere else (a test runner's own worker), it stays inert. */
export const SIGNING_WORKER = "fleet-signing-thread";

/**
 * To the worker. Times in ms since the epoch. The private key travels as a KeyObject (cloned,
 * never written out as text), with the first tree that names its kid.
 */
export interface SignRequest {
  readonly id: number;
  readonly kid: string;
  readonly privateKey?: KeyObject;
  /** The leaf texts (`leafText`) of one or more trees, joined by LEAF_SEPARATOR; a tree every ENTRIES_PER_TREE. */
  readonly leaves: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly plan: string;
}

/** From the worker. `proofs`: the leaves' proofs in their order, joined by PROOF_SEPARATOR. */
export type FromWorker =
  | { readonly _tag: "Ready" }
  | { readonly _tag: "Signed"; readonly id: number; readonly jws: ReadonlyArray<string>; readonly proofs: string }
  | { readonly _tag: "Failed"; readonly id: number; readonly message: string };

const port = parentPort;
if (port !== null && workerData === SIGNING_WORKER) {
  const reply = (m: FromWorker): void => port.postMessage(m);
  // Kept by kid: signTree keeps each key's imported form, which another clone would miss.
  const keys = new Map<string, TreeSigningKey>();
  port.on("message", (m: SignRequest) => {
    if (m.privateKey !== undefined && !keys.has(m.kid)) keys.set(m.kid, { kid: m.kid, privateKey: m.privateKey });
    const key = keys.get(m.kid);
    if (key === undefined) {
      reply({ _tag: "Failed", id: m.id, message: `the signing thread has no key ${m.kid}` });
      return;
    }
    const leaves = m.leaves.split(LEAF_SEPARATOR);
    const options = { issuedAt: new Date(m.issuedAt), expiresAt: new Date(m.expiresAt), plan: m.plan };
    const trees: Array<Promise<SignedTree>> = [];
    for (let from = 0; from < leaves.length; from += ENTRIES_PER_TREE) trees.push(signTree(leaves.slice(from, from + ENTRIES_PER_TREE), key, options));
    Promise.all(trees).then(
      (ts) => reply({ _tag: "Signed", id: m.id, jws: ts.map((t) => t.jws), proofs: ts.map((t) => t.proofs.join(PROOF_SEPARATOR)).join(PROOF_SEPARATOR) }),
      (e: unknown) => reply({ _tag: "Failed", id: m.id, message: e instanceof Error ? e.message : String(e) }),
    );
  });
  reply({ _tag: "Ready" });
}
