/**
 * Signed desired entries: what lets a device check that an entry comes from
 * the control plane, is meant for it, is current, and carries the spec the
 * control plane chose.
 *
 * An apply signs its entries in trees of up to 256 (SignedTree.ts): the
 * entries' claims (device, deployment, spec hash, revision) are the leaves of
 * a Merkle tree (Merkle.ts); a JWS made with jose (EdDSA, Ed25519, `kid` in
 * the protected header) signs the tree's claims (root, size, issued-at,
 * expires-at, plan); each entry carries the JWS, its index and its inclusion
 * proof. This module is the model and the verification. Verifying an
 * entry is one signature check per tree (memoised: the entries of one tree
 * carry the same JWS) plus at most 8 hashes.
 *
 * Verification is synchronous (node:crypto's Ed25519 verify over the JWS
 * signing input), because it runs inside the agent's pure step; jose offers
 * only an asynchronous verify. test/laws/signed-entry.test.ts checks that
 * both verifiers agree on valid and corrupted tokens.
 *
 * Revisions are a hybrid clock, `max(issued-at in ms, previous + 1)`: they
 * increase per key across applies even when a key is deleted and created
 * again, so a device that remembers the highest revision it accepted per key
 * rejects the replay of an older, validly signed entry.
 *
 * Laws (test/laws/signed-entry.test.ts): an entry signed for (device,
 * deployment, spec) verifies for exactly that device, deployment and spec,
 * before its expiry, under a trust store holding its key; any change to the
 * claims, the proof, the index or the token is rejected, with a reason.
 */
import { verify as verifySignature } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { formatKeyRejection, keyFor, type KeyRejection, type TrustStore } from "./Keys.ts";
import { verifyInclusion, type Digest } from "./Merkle.ts";
import { entryLeaf } from "./SignedTree.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** What one entry commits to. */
export interface EntryClaims {
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
  readonly specHash: string;
  readonly revision: number;
}

/** What the JWS of one apply signs. Times in seconds since the epoch (JWT's NumericDate). */
export interface BatchClaims {
  readonly root: string;
  readonly size: number;
  readonly iat: number;
  readonly exp: number;
  readonly plan: string;
}

/** The signature part of a desired entry, as it travels with the entry. */
export interface EntrySignature {
  /** The device and deployment the signer meant (also committed by the proof). */
  readonly device: string;
  readonly deployment: string;
  readonly revision: number;
  readonly index: number;
  /** The inclusion proof: the sibling digests, bottom up, concatenated, base64url. */
  readonly proof: string;
  /** The compact JWS over the batch claims. */
  readonly jws: string;
}

export interface Verified {
  readonly claims: EntryClaims;
  readonly kid: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly plan: string;
}

/** Why an entry is not trusted. */
export type Rejection =
  | { readonly _tag: "MalformedSignature"; readonly reason: string }
  | KeyRejection
  | { readonly _tag: "BadSignature"; readonly kid: string }
  | { readonly _tag: "NotInBatch" }
  | { readonly _tag: "WrongDevice"; readonly expected: DeviceId; readonly claimed: string }
  | { readonly _tag: "WrongDeployment"; readonly expected: DeploymentName; readonly claimed: string }
  | { readonly _tag: "SpecMismatch"; readonly claimed: string; readonly actual: string }
  | { readonly _tag: "Expired"; readonly expiresAt: Date }
  | { readonly _tag: "Unsigned" }
  | { readonly _tag: "Replayed"; readonly revision: number; readonly highest: number };

// -------------------------------------------------------------------------------------
// revisions
// -------------------------------------------------------------------------------------

/** The revision of a key's next entry: later than `now` allows and than anything published before. */
export const nextRevision = (previous: number | undefined, now: Date): number => Math.max(now.getTime(), (previous ?? 0) + 1);

// -------------------------------------------------------------------------------------
// verification
// -------------------------------------------------------------------------------------

interface CheckedBatch {
  readonly kid: string;
  readonly claims: BatchClaims;
  readonly root: Digest;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

const malformed = (reason: string): E.Either<Rejection, never> => E.left({ _tag: "MalformedSignature", reason });

const parseSegment = (segment: string, what: string): E.Either<Rejection, Record<string, unknown>> => {
  if (!B64URL.test(segment)) return malformed(`${what} is not base64url`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    return malformed(`${what} is not JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return malformed(`${what} is not a JSON object`);
  return E.right(json as Record<string, unknown>);
};

const isNumericDate = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0;

/**
 * Checks a batch token's form and signature (not its times: those depend on
 * `now`). Pure in its inputs; memoised by token, since a token's kid is the
 * thumbprint of the only key that can verify it.
 */
const checkBatch = (jws: string, trust: TrustStore, now: Date): E.Either<Rejection, CheckedBatch> => {
  if (typeof jws !== "string" || jws.length > 8192) return malformed("the token is not a compact JWS");
  const parts = jws.split(".");
  if (parts.length !== 3) return malformed("the token is not a compact JWS (expected three parts)");
  const [h, p, s] = parts as [string, string, string];
  const header = parseSegment(h, "the token's header");
  if (E.isLeft(header)) return header;
  const { alg, kid, crit, b64 } = header.right;
  if (alg !== "EdDSA") return malformed(`unsupported algorithm ${JSON.stringify(alg)} (expected EdDSA)`);
  if (typeof kid !== "string" || kid.length === 0) return malformed("the token names no key (kid)");
  if (crit !== undefined || b64 !== undefined) return malformed("the token asks for extensions this verifier does not support");
  const key = keyFor(trust, kid, now);
  if (E.isLeft(key)) return key;
  const cached = verifiedTokens.get(jws);
  if (cached !== undefined) return E.right(cached);
  if (!B64URL.test(s)) return malformed("the token's signature is not base64url");
  const ok = verifySignature(null, Buffer.from(`${h}.${p}`, "ascii"), key.right.publicKey, Buffer.from(s, "base64url"));
  if (!ok) return E.left({ _tag: "BadSignature", kid });
  const payload = parseSegment(p, "the token's payload");
  if (E.isLeft(payload)) return payload;
  const { root, size, iat, exp, plan } = payload.right;
  if (typeof root !== "string" || !B64URL.test(root)) return malformed("the batch claims have no root");
  const rootBytes = Buffer.from(root, "base64url");
  if (rootBytes.length !== 32) return malformed("the batch root is not a SHA-256 digest");
  if (!Number.isSafeInteger(size) || (size as number) < 1) return malformed("the batch claims have no size");
  if (!isNumericDate(iat) || !isNumericDate(exp)) return malformed("the batch claims have no iat/exp");
  if (typeof plan !== "string") return malformed("the batch claims name no plan");
  const checked: CheckedBatch = { kid, claims: { root, size: size as number, iat, exp, plan }, root: rootBytes };
  remember(jws, checked);
  return E.right(checked);
};

// Every entry of one apply carries the same token; a device sees a handful of applies at a time.
const verifiedTokens = new Map<string, CheckedBatch>();
const MAX_REMEMBERED = 256;
const remember = (jws: string, b: CheckedBatch): void => {
  if (verifiedTokens.size >= MAX_REMEMBERED) verifiedTokens.delete(verifiedTokens.keys().next().value as string);
  verifiedTokens.set(jws, b);
};

export interface VerifyContext {
  readonly trust: TrustStore;
  /** The device doing the checking, and the deployment its key names. */
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
  /** The spec hash the entry states, and the hash its spec content really has. */
  readonly statedSpecHash: string;
  readonly actualSpecHash: string;
  readonly now: Date;
}

/** Whether a desired entry may be run: signed by a trusted key, for this device and deployment, for this spec, not expired. */
export const verifyEntry = (sig: EntrySignature, ctx: VerifyContext): E.Either<Rejection, Verified> => {
  if (sig.device !== ctx.device) return E.left({ _tag: "WrongDevice", expected: ctx.device, claimed: String(sig.device) });
  if (sig.deployment !== ctx.deployment) return E.left({ _tag: "WrongDeployment", expected: ctx.deployment, claimed: String(sig.deployment) });
  if (!Number.isSafeInteger(sig.revision) || sig.revision < 0) return malformed("the revision is not a non-negative integer");
  if (!Number.isSafeInteger(sig.index) || sig.index < 0) return malformed("the index is not a non-negative integer");
  if (typeof sig.proof !== "string" || !B64URL.test(sig.proof)) return malformed("the proof is not base64url");
  const batch = checkBatch(sig.jws, ctx.trust, ctx.now);
  if (E.isLeft(batch)) return batch;
  const { claims, root, kid } = batch.right;
  const proofBytes = Buffer.from(sig.proof, "base64url");
  if (proofBytes.length % 32 !== 0 || proofBytes.length > 64 * 32) return malformed("the proof is not a list of SHA-256 digests");
  const proof: Digest[] = [];
  for (let i = 0; i < proofBytes.length; i += 32) proof.push(proofBytes.subarray(i, i + 32));
  // The claims are rebuilt from what the device knows: a proof for any other device, deployment or spec fails.
  const entry: EntryClaims = { device: ctx.device, deployment: ctx.deployment, specHash: ctx.statedSpecHash, revision: sig.revision };
  if (!verifyInclusion(entryLeaf(entry), sig.index, claims.size, proof, root)) return E.left({ _tag: "NotInBatch" });
  if (ctx.statedSpecHash !== ctx.actualSpecHash) return E.left({ _tag: "SpecMismatch", claimed: ctx.statedSpecHash, actual: ctx.actualSpecHash });
  const expiresAt = new Date(claims.exp * 1000);
  if (ctx.now.getTime() >= expiresAt.getTime()) return E.left({ _tag: "Expired", expiresAt });
  return E.right({ claims: entry, kid, issuedAt: new Date(claims.iat * 1000), expiresAt, plan: claims.plan });
};

export const formatRejection = (r: Rejection): string => {
  switch (r._tag) {
    case "MalformedSignature":
      return `malformed signature: ${r.reason}`;
    case "UnknownKey":
    case "RevokedKey":
    case "RetiredKey":
      return formatKeyRejection(r);
    case "BadSignature":
      return `bad signature (key ${r.kid})`;
    case "NotInBatch":
      return "the signature does not cover this device, deployment, spec and revision";
    case "WrongDevice":
      return `signed for device ${r.claimed}, not ${r.expected}`;
    case "WrongDeployment":
      return `signed for deployment ${r.claimed}, not ${r.expected}`;
    case "SpecMismatch":
      return `spec does not match its hash (states ${r.claimed}, content hashes to ${r.actual})`;
    case "Expired":
      return `expired at ${r.expiresAt.toISOString()}`;
    case "Unsigned":
      return "unsigned entry (this device requires signed desired state)";
    case "Replayed":
      return `revision ${r.revision} is older than revision ${r.highest} already accepted (replay)`;
  }
};
