/**
 * The worker side of SigningThread.ts: one tree per message, signed with
 * `signTree`, the same function the apply thread uses. Ed25519 signatures are
 * deterministic, so the two threads give the same bytes
 * (test/laws/signing-thread.test.ts).
 *
 * Messages are few and flat on purpose: each one costs the apply thread (a
 * copy, and a wake-up of the other thread that a busy machine makes slow),
 * so a request carries several trees' claims in a few flat fields (the
 * devices in one string, the deployments and spec hashes as a small table and
 * an index per entry, the revisions as numbers), and the
 * reply every entry's signature as JSON in one buffer, transferred (not
 * copied) to the apply thread, which copies each entry's bytes into its value
 * (SignedBatch.ts).
 *
 * Messages come only from SigningThread.ts in the same process, so they are
 * not outside data and carry no codec; every request is answered, a failed
 * one with its error's message.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { KeyObject } from "node:crypto";
import { encodeBatch } from "./SignedBatch.ts";
import type { EntryClaims, EntrySignature } from "./SignedEntry.ts";
import { ENTRIES_PER_TREE, entrySignatures, leafText, signTree, type SignedTree, type TreeSigningKey } from "./SignedTree.ts";

/** Separates the devices in a request (no name holds a NUL). */
export const DEVICE_SEPARATOR = "\u0000";

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
  /** The entries' devices joined by DEVICE_SEPARATOR, in the entries' order; a tree every ENTRIES_PER_TREE entries. */
  readonly devices: string;
  /** The distinct [deployment, spec hash] pairs among the entries, and each entry's pair by its index here. */
  readonly kinds: ReadonlyArray<readonly [string, string]>;
  readonly kindOf: Uint32Array;
  readonly revisions: Float64Array;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly plan: string;
}

/** From the worker. `json`: the entries' signatures as JSON (`signatureJson`), one after another, `ends[i]` where the i-th ends. */
export type FromWorker =
  | { readonly _tag: "Ready" }
  | { readonly _tag: "Signed"; readonly id: number; readonly json: ArrayBuffer; readonly ends: ArrayBuffer }
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
    const claims: EntryClaims[] = (m.kindOf.length === 0 ? [] : m.devices.split(DEVICE_SEPARATOR)).map((device, i) => {
      const [deployment, specHash] = m.kinds[m.kindOf[i] as number] as readonly [string, string];
      return { device, deployment, specHash, revision: m.revisions[i] as number } as EntryClaims;
    });
    const options = { issuedAt: new Date(m.issuedAt), expiresAt: new Date(m.expiresAt), plan: m.plan };
    const trees: Array<Promise<SignedTree>> = [];
    for (let from = 0; from < claims.length; from += ENTRIES_PER_TREE) trees.push(signTree(claims.slice(from, from + ENTRIES_PER_TREE).map(leafText), key, options));
    Promise.all(trees).then(
      (ts) => {
        // Each tree's signatures as the calling thread makes them (`entrySignatures`).
        const sigs: EntrySignature[] = ts.flatMap((tree, k) => entrySignatures(claims.slice(k * ENTRIES_PER_TREE, (k + 1) * ENTRIES_PER_TREE), tree));
        const { bytes, ends } = encodeBatch(sigs);
        const json = bytes.buffer as ArrayBuffer;
        port.postMessage({ _tag: "Signed", id: m.id, json, ends: ends.buffer as ArrayBuffer } satisfies FromWorker, [json, ends.buffer as ArrayBuffer]);
      },
      (e: unknown) => reply({ _tag: "Failed", id: m.id, message: e instanceof Error ? e.message : String(e) }),
    );
  });
  reply({ _tag: "Ready" });
}
