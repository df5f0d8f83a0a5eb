/**
 * Signing a tree of entries: the signing half of SignedEntry.ts (which holds
 * the model and the verification), kept apart so that the signing thread
 * (SigningWorker.ts) loads only what signing needs: node:crypto, jose and the
 * Merkle tree, not the trust store's codecs.
 *
 * Entries are signed in trees of up to ENTRIES_PER_TREE: each entry's claims
 * (device, deployment, spec hash, revision) are a leaf; one jose JWS (EdDSA,
 * `kid` in the protected header) signs the tree's claims (root, size,
 * issued-at, expires-at, plan); each entry gets the JWS, its index and its
 * inclusion proof.
 *
 * Law (test/laws/signed-entry.test.ts): every entry signed here verifies with
 * `verifyEntry` for exactly its own claims.
 */
import { webcrypto } from "node:crypto";
// The one jose module signing needs, not the whole library: the signing thread boots sooner.
import { CompactSign } from "jose/jws/compact/sign";
import { canonicalJson } from "../algebra/Canonical.ts";
import type { SigningKey } from "./Keys.ts";
import { leafHash, merkleTree, type Digest } from "./Merkle.ts";
import type { BatchClaims, EntryClaims, EntrySignature } from "./SignedEntry.ts";

// -------------------------------------------------------------------------------------
// leaves
// -------------------------------------------------------------------------------------

// Device and deployment are DNS labels and the spec hash is `sha256:<hex>`: none holds a newline, so
// this encoding is unambiguous (and much cheaper than canonical JSON for 100k leaves). The spec itself
// is not hashed here: its hash is a claim, and the device checks the spec against it.
/** What a leaf hashes: one entry's claims, one per line. */
export const leafText = (c: EntryClaims): string => `fleet-entry/1\n${c.device}\n${c.deployment}\n${c.specHash}\n${c.revision}`;

/** The leaf hash of one entry's claims. */
export const entryLeaf = (c: EntryClaims): Digest => leafHash(leafText(c));

// -------------------------------------------------------------------------------------
// signing
// -------------------------------------------------------------------------------------

const PROTECTED = (kid: string) => ({ alg: "EdDSA", kid, typ: "fleet-batch+jws" });

export interface BatchOptions {
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** An id of the plan the entries come from. */
  readonly plan: string;
}

/** What signing needs of a key (the signing thread gets only these). */
export type TreeSigningKey = Pick<SigningKey, "kid" | "privateKey">;

/**
 * Leaves per signed tree. One tree per 256 entries keeps proofs at 8 hashes (344 characters)
 * instead of 17 for a 100k-entry apply, for one extra signature (about 80 µs) per 256 entries.
 */
export const ENTRIES_PER_TREE = 256;

// jose signs about 2.5 times faster with a WebCrypto key than with a KeyObject it must convert on every call.
const cryptoKeys = new WeakMap<TreeSigningKey["privateKey"], Promise<webcrypto.CryptoKey>>();
const cryptoKeyOf = (key: TreeSigningKey): Promise<webcrypto.CryptoKey> => {
  let k = cryptoKeys.get(key.privateKey);
  if (k === undefined) {
    k = webcrypto.subtle.importKey("jwk", key.privateKey.export({ format: "jwk" }) as webcrypto.JsonWebKey, { name: "Ed25519" }, false, ["sign"]);
    cryptoKeys.set(key.privateKey, k);
  }
  return k;
};

/** Every proof of a tree, each as its digests concatenated in base64url; one buffer for the whole tree. */
const proofTexts = (proofs: ReadonlyArray<ReadonlyArray<Digest>>): string[] => {
  let total = 0;
  for (const p of proofs) total += p.length;
  const out = Buffer.allocUnsafe(total * 32);
  const texts = new Array<string>(proofs.length);
  let at = 0;
  proofs.forEach((p, i) => {
    const from = at;
    for (const d of p) at += d.copy(out, at);
    texts[i] = out.toString("base64url", from, at);
  });
  return texts;
};

/** One signed tree: its JWS, and each leaf's inclusion proof (base64url), in the leaves' order. */
export interface SignedTree {
  readonly jws: string;
  readonly proofs: ReadonlyArray<string>;
}

/** Signs one tree over the given leaf texts (`leafText`), at most ENTRIES_PER_TREE of them. */
export const signTree = async (leaves: ReadonlyArray<string>, key: TreeSigningKey, options: BatchOptions): Promise<SignedTree> => {
  const tree = merkleTree(leaves.map(leafHash));
  const claims: BatchClaims = {
    root: tree.root.toString("base64url"),
    size: tree.size,
    iat: Math.floor(options.issuedAt.getTime() / 1000),
    exp: Math.floor(options.expiresAt.getTime() / 1000),
    plan: options.plan,
  };
  const proofs = proofTexts(tree.proofs);
  const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(claims))).setProtectedHeader(PROTECTED(key.kid)).sign(await cryptoKeyOf(key));
  return { jws, proofs };
};

/** The entries' signatures from their tree (`tree.proofs[i]` is `entries[i]`'s). */
export const entrySignatures = (entries: ReadonlyArray<EntryClaims>, tree: SignedTree): EntrySignature[] =>
  entries.map((e, i) => ({ device: e.device, deployment: e.deployment, revision: e.revision, index: i, proof: tree.proofs[i] as string, jws: tree.jws }));

/** Signs entries in trees of ENTRIES_PER_TREE; the signatures come in the entries' order. */
export const signEntries = async (
  entries: ReadonlyArray<EntryClaims>,
  key: TreeSigningKey,
  options: BatchOptions,
): Promise<ReadonlyArray<EntrySignature>> => {
  const chunks: Array<Promise<ReadonlyArray<EntrySignature>>> = [];
  for (let start = 0; start < entries.length; start += ENTRIES_PER_TREE) {
    const chunk = entries.slice(start, start + ENTRIES_PER_TREE);
    chunks.push(signTree(chunk.map(leafText), key, options).then((tree) => entrySignatures(chunk, tree)));
  }
  return (await Promise.all(chunks)).flat();
};
