/**
 * Signing keys and the trust store agents verify desired state against.
 *
 * Keys are Ed25519. A key's id (`kid`) is its RFC 7638 JWK thumbprint, so an
 * id names exactly one public key: a trust file cannot map a known id to
 * other key material, and a verified signature stays verified for its id.
 *
 * The trust store is pure data with three operations a rotation needs:
 * `addKey`, `retireKey` (the old key stays valid until a stated instant, so
 * entries signed before a rotation keep running while they are re-signed)
 * and `revokeKey` (rejected at once, whatever it signed).
 *
 * Laws (test/laws/trust-keys.test.ts): `kid` equals jose's thumbprint of the same
 * key; decode(encode(store)) = store; a revoked key is never found valid; a
 * retired key is valid exactly until its `validUntil`.
 */
import * as Ord from "fp-ts/lib/Ord.js";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import * as S from "fp-ts/lib/string.js";
import { canonicalJson } from "../algebra/Canonical.ts";
import { DateFromISOString } from "../algebra/Time.ts";
import { formatValidationErrors } from "../algebra/DecodeError.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface PublicJwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
}

export interface SigningKey {
  readonly _tag: "SigningKey";
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: PublicJwk;
  readonly created: Date;
}

export interface TrustedKey {
  readonly kid: string;
  readonly jwk: PublicJwk;
  readonly publicKey: KeyObject;
  readonly added: Date;
  /** After this instant the key signs nothing valid (set by a rotation). */
  readonly validUntil?: Date;
  /** A revoked key is rejected at once, whatever it signed. */
  readonly revoked?: { readonly at: Date; readonly reason: string };
}

export interface TrustStore {
  readonly _tag: "TrustStore";
  /** Keyed by kid; file order is kid order. */
  readonly keys: ReadonlyMap<string, TrustedKey>;
}

/** Why a key file or a trust file cannot be used. */
export type KeyFileError =
  | { readonly _tag: "NotJson"; readonly reason: string }
  | { readonly _tag: "InvalidShape"; readonly reason: string }
  | { readonly _tag: "BadKey"; readonly kid: string; readonly reason: string }
  | { readonly _tag: "KidMismatch"; readonly kid: string; readonly thumbprint: string };

/** Why a key may not verify anything now. */
export type KeyRejection =
  | { readonly _tag: "UnknownKey"; readonly kid: string }
  | { readonly _tag: "RevokedKey"; readonly kid: string; readonly at: Date; readonly reason: string }
  | { readonly _tag: "RetiredKey"; readonly kid: string; readonly validUntil: Date };

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** RFC 7638 thumbprint of an Ed25519 public JWK: SHA-256 over its required members in canonical JSON, base64url. */
export const thumbprint = (jwk: PublicJwk): string =>
  createHash("sha256").update(canonicalJson({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })).digest("base64url");

const publicJwkOf = (key: KeyObject): PublicJwk => {
  const jwk = key.export({ format: "jwk" });
  return { kty: "OKP", crv: "Ed25519", x: String(jwk.x) };
};

export const generateSigningKey = (now: Date): SigningKey => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const publicJwk = publicJwkOf(publicKey);
  return { _tag: "SigningKey", kid: thumbprint(publicJwk), privateKey, publicJwk, created: now };
};

export const emptyTrustStore: TrustStore = { _tag: "TrustStore", keys: new Map() };

// -------------------------------------------------------------------------------------
// combinators (data-last)
// -------------------------------------------------------------------------------------

const withKey = (store: TrustStore, key: TrustedKey): TrustStore => {
  const keys = new Map(store.keys);
  keys.set(key.kid, key);
  return { _tag: "TrustStore", keys: new Map([...keys].sort(Ord.contramap(([kid]: readonly [string, TrustedKey]) => kid)(S.Ord).compare)) };
};

/** Trusts `jwk` from `now` on (a key already trusted keeps its record). */
export const addKey =
  (jwk: PublicJwk, now: Date) =>
  (store: TrustStore): TrustStore => {
    const kid = thumbprint(jwk);
    if (store.keys.has(kid)) return store;
    return withKey(store, { kid, jwk, publicKey: createPublicKey({ key: { ...jwk }, format: "jwk" }), added: now });
  };

/** The key stays valid until `until` and no longer (a rotation's overlap window). */
export const retireKey =
  (kid: string, until: Date) =>
  (store: TrustStore): E.Either<KeyRejection, TrustStore> => {
    const k = store.keys.get(kid);
    if (k === undefined) return E.left({ _tag: "UnknownKey", kid });
    const validUntil = k.validUntil !== undefined && k.validUntil < until ? k.validUntil : until;
    return E.right(withKey(store, { ...k, validUntil }));
  };

export const revokeKey =
  (kid: string, at: Date, reason: string) =>
  (store: TrustStore): E.Either<KeyRejection, TrustStore> => {
    const k = store.keys.get(kid);
    if (k === undefined) return E.left({ _tag: "UnknownKey", kid });
    return E.right(withKey(store, { ...k, revoked: k.revoked ?? { at, reason } }));
  };

/** The key that may verify a signature made by `kid`, judged at `now`. */
export const keyFor = (store: TrustStore, kid: string, now: Date): E.Either<KeyRejection, TrustedKey> => {
  const k = store.keys.get(kid);
  if (k === undefined) return E.left({ _tag: "UnknownKey", kid });
  if (k.revoked !== undefined) return E.left({ _tag: "RevokedKey", kid, at: k.revoked.at, reason: k.revoked.reason });
  if (k.validUntil !== undefined && now.getTime() > k.validUntil.getTime()) return E.left({ _tag: "RetiredKey", kid, validUntil: k.validUntil });
  return E.right(k);
};

// -------------------------------------------------------------------------------------
// files
// -------------------------------------------------------------------------------------

const PublicJwkCodec = t.type({ kty: t.literal("OKP"), crv: t.literal("Ed25519"), x: t.string });

const SigningKeyFileV1 = t.type({
  v: t.literal(1),
  kid: t.string,
  jwk: t.type({ kty: t.literal("OKP"), crv: t.literal("Ed25519"), x: t.string, d: t.string }),
  created: DateFromISOString,
});

const TrustedKeyV1 = t.intersection([
  t.type({ kid: t.string, jwk: PublicJwkCodec, added: DateFromISOString }),
  t.partial({ validUntil: DateFromISOString, revoked: t.type({ at: DateFromISOString, reason: t.string }) }),
]);

const TrustFileV1 = t.type({ v: t.literal(1), keys: t.array(TrustedKeyV1) });

const parseJson = (text: string): E.Either<KeyFileError, unknown> => {
  try {
    return E.right(JSON.parse(text));
  } catch (e) {
    return E.left({ _tag: "NotJson", reason: errorMessage(e) });
  }
};

const shape = <A>(codec: t.Decoder<unknown, A>, u: unknown): E.Either<KeyFileError, A> =>
  E.mapLeft((errors: t.Errors): KeyFileError => ({ _tag: "InvalidShape", reason: formatValidationErrors(errors) }))(codec.decode(u));

const checkKid = (kid: string, jwk: PublicJwk): E.Either<KeyFileError, string> => {
  const tp = thumbprint(jwk);
  return tp === kid ? E.right(kid) : E.left({ _tag: "KidMismatch", kid, thumbprint: tp });
};

export const encodeSigningKey = (k: SigningKey): string => {
  const jwk = k.privateKey.export({ format: "jwk" });
  return `${JSON.stringify(
    SigningKeyFileV1.encode({ v: 1, kid: k.kid, jwk: { kty: "OKP", crv: "Ed25519", x: String(jwk.x), d: String(jwk.d) }, created: k.created }),
    null,
    2,
  )}\n`;
};

export const decodeSigningKey = (text: string): E.Either<KeyFileError, SigningKey> => {
  const json = parseJson(text);
  if (E.isLeft(json)) return json;
  const file = shape(SigningKeyFileV1, json.right);
  if (E.isLeft(file)) return file;
  const { kid, jwk, created } = file.right;
  const publicJwk: PublicJwk = { kty: "OKP", crv: "Ed25519", x: jwk.x };
  const kidOk = checkKid(kid, publicJwk);
  if (E.isLeft(kidOk)) return kidOk;
  try {
    const privateKey = createPrivateKey({ key: { ...jwk }, format: "jwk" });
    // The private half must belong to the public half the kid names.
    if (publicJwkOf(createPublicKey(privateKey)).x !== jwk.x) return E.left({ _tag: "BadKey", kid, reason: "the private key does not match its public key" });
    return E.right({ _tag: "SigningKey", kid, privateKey, publicJwk, created });
  } catch (e) {
    return E.left({ _tag: "BadKey", kid, reason: errorMessage(e) });
  }
};

export const encodeTrustStore = (store: TrustStore): string =>
  `${JSON.stringify(
    TrustFileV1.encode({
      v: 1,
      keys: [...store.keys.values()].map((k) => ({
        kid: k.kid,
        jwk: k.jwk,
        added: k.added,
        ...(k.validUntil !== undefined ? { validUntil: k.validUntil } : {}),
        ...(k.revoked !== undefined ? { revoked: k.revoked } : {}),
      })),
    }),
    null,
    2,
  )}\n`;

export const decodeTrustStore = (text: string): E.Either<KeyFileError, TrustStore> => {
  const json = parseJson(text);
  if (E.isLeft(json)) return json;
  const file = shape(TrustFileV1, json.right);
  if (E.isLeft(file)) return file;
  let store = emptyTrustStore;
  for (const k of file.right.keys) {
    const jwk: PublicJwk = { kty: "OKP", crv: "Ed25519", x: k.jwk.x };
    const kidOk = checkKid(k.kid, jwk);
    if (E.isLeft(kidOk)) return kidOk;
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: { ...jwk }, format: "jwk" });
    } catch (e) {
      return E.left({ _tag: "BadKey", kid: k.kid, reason: errorMessage(e) });
    }
    store = withKey(store, {
      kid: k.kid,
      jwk,
      publicKey,
      added: k.added,
      ...(k.validUntil !== undefined ? { validUntil: k.validUntil } : {}),
      ...(k.revoked !== undefined ? { revoked: k.revoked } : {}),
    });
  }
  return E.right(store);
};

export const formatKeyFileError = (e: KeyFileError): string => {
  switch (e._tag) {
    case "NotJson":
      return `not JSON (${e.reason})`;
    case "InvalidShape":
      return e.reason;
    case "BadKey":
      return `key ${e.kid}: ${e.reason}`;
    case "KidMismatch":
      return `key id ${e.kid} is not the thumbprint of its key (${e.thumbprint})`;
  }
};

export const formatKeyRejection = (e: KeyRejection): string => {
  switch (e._tag) {
    case "UnknownKey":
      return `signed by an unknown key ${e.kid}`;
    case "RevokedKey":
      return `signed by key ${e.kid}, revoked at ${e.at.toISOString()} (${e.reason})`;
    case "RetiredKey":
      return `signed by key ${e.kid}, retired at ${e.validUntil.toISOString()}`;
  }
};
