/**
 * Signing the entries an apply publishes, as one function an interpreter
 * calls (`ApplyOptions.sign`): the diff and the plan stay unaware of keys,
 * and an interpreter needs no key, only this function.
 *
 * Each entry's revision is `nextRevision(previous, now)` where `previous` is
 * the signed revision the entry had when the plan read it (a plan applies
 * only if nothing changed since, so this is the key's latest); all entries
 * of one apply share its issued-at, expiry (`now + ttl`) and plan id.
 *
 * Signing is an apply's main extra cost; a big apply signs on a worker
 * thread beside its writes (SigningThread.ts).
 */
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import type { SigningKey } from "./Keys.ts";
import { batchOf, type SignedBatch } from "./SignedBatch.ts";
import { nextRevision } from "./SignedEntry.ts";
import { signEntries } from "./SignedTree.ts";
import { prepareSigning, signOffThread } from "./SigningThread.ts";

export interface EntryToSign {
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
  readonly specHash: string;
}

/**
 * Signs entries about to be written; the signatures come in the entries' order (`signaturesOf`
 * for objects). `prepare`, when there, is told how many entries an apply will ask for, before
 * it asks (a signer may get ready meanwhile: start its signing thread).
 */
export type SignEntries = ((entries: ReadonlyArray<EntryToSign>) => Promise<SignedBatch>) & { readonly prepare?: (count: number) => void };

export interface SignerOptions {
  readonly now: Date;
  readonly ttlMs: number;
  /** The id of the plan the entries come from (its digest). */
  readonly plan: string;
  /** The signed revision an entry had when it was read, if it was signed. */
  readonly previous: (device: DeviceId, deployment: DeploymentName) => number | undefined;
}

/** Default lifetime of a signature: a device keeps running an expired entry's spec, but takes no expired entry. */
export const DEFAULT_SIGNATURE_TTL_MS = 30 * 24 * 3600 * 1000;

/**
 * The signer of one apply. Its first tree is signed on the calling thread; from its second on
 * (a big apply), trees go to the signing thread (SigningThread.ts) once it is ready.
 */
export const entrySigner = (key: SigningKey, options: SignerOptions): SignEntries => {
  const batch = { issuedAt: options.now, expiresAt: new Date(options.now.getTime() + options.ttlMs), plan: options.plan };
  let calls = 0;
  const sign = (entries: ReadonlyArray<EntryToSign>): Promise<SignedBatch> => {
    // Exactly the claims: an entry may be a whole action (its spec too), and claims may cross to the signing thread.
    const claims = entries.map((e) => ({
      device: e.device,
      deployment: e.deployment,
      specHash: e.specHash,
      revision: nextRevision(options.previous(e.device, e.deployment), options.now),
    }));
    if (calls++ === 0) return signEntries(claims, key, batch).then(batchOf);
    return signOffThread(claims, key, batch);
  };
  return Object.assign(sign, { prepare: prepareSigning });
};
