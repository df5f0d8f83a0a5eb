/**
 * Enrollment tokens: a one-time, expiring permission for one device to
 * obtain its own credential, the way balena exchanges a provisioning key for
 * a per-device key and Flight Control enrols a device by its CSR.
 *
 * A token is a JWS made with jose (EdDSA, Ed25519, the enrollment key's
 * `kid` in the protected header, `typ: fleet-enroll+jwt`) over
 *
 *   { jti, sub: device id, aud: the account it enrols into, iat, exp }
 *
 * It grants nothing by itself: the enrollment service (an identity provider
 * holding the `EnrollmentIntent`) verifies it, records its `jti` so that it
 * is redeemed once, and mints the device's credential for a public key the
 * device generated (the private key never leaves the device).
 *
 * Two readings:
 * - `readEnrollmentToken`: structure and claims, no signature (a device has
 *   no enrollment key; it reads its token to say early and clearly that it
 *   expired or names no device);
 * - `verifyEnrollmentToken`: everything: the key, the signature, the expiry
 *   and the audience, judged at an explicit `now`.
 *
 * Laws (test/laws/enrollment-token.test.ts): a token signed for (device,
 * audience) verifies before its expiry, for exactly that audience, under its
 * key, and gives back its claims; after its expiry, for another audience,
 * under another key, or with any byte of it changed, it is rejected; every
 * input, however malformed, is rejected with a reason and never throws.
 */
import { randomUUID, type KeyObject } from "node:crypto";
import { CompactSign, compactVerify } from "jose";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { canonicalJson } from "../algebra/Canonical.ts";
import { formatValidationErrors } from "../algebra/DecodeError.ts";
import { parseDeviceId, type DeviceId } from "../algebra/Name.ts";
import type { SigningKey } from "./Keys.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface EnrollmentClaims {
  /** The token's id: the service records it, so the token is redeemed once. */
  readonly jti: string;
  /** The device the token enrols. */
  readonly device: DeviceId;
  /** What the token is for (the NATS account it enrols into); a service for another refuses it. */
  readonly audience: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** The enrollment key that signed it. */
  readonly kid: string;
}

/** Why a token is not accepted. */
export type TokenRejection =
  | { readonly _tag: "Malformed"; readonly reason: string }
  | { readonly _tag: "UnknownKey"; readonly kid: string }
  | { readonly _tag: "BadSignature" }
  | { readonly _tag: "Expired"; readonly at: Date }
  | { readonly _tag: "WrongAudience"; readonly audience: string; readonly expected: string };

/** The key a service verifies tokens with. */
export interface EnrollmentVerifier {
  readonly kid: string;
  readonly publicKey: KeyObject;
}

export const TOKEN_TYPE = "fleet-enroll+jwt";

// -------------------------------------------------------------------------------------
// signing
// -------------------------------------------------------------------------------------

export interface TokenOptions {
  readonly device: DeviceId;
  readonly audience: string;
  readonly now: Date;
  readonly ttlMs: number;
  /** The token's id; default a random UUID (the tests fix it). */
  readonly jti?: string;
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

export const signEnrollmentToken = async (key: SigningKey, options: TokenOptions): Promise<{ readonly token: string; readonly claims: EnrollmentClaims }> => {
  const claims: EnrollmentClaims = {
    jti: options.jti ?? randomUUID(),
    device: options.device,
    audience: options.audience,
    issuedAt: new Date(seconds(options.now) * 1000),
    expiresAt: new Date(seconds(new Date(options.now.getTime() + options.ttlMs)) * 1000),
    kid: key.kid,
  };
  const payload = { jti: claims.jti, sub: claims.device, aud: claims.audience, iat: seconds(claims.issuedAt), exp: seconds(claims.expiresAt) };
  const token = await new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: TOKEN_TYPE })
    .sign(key.privateKey);
  return { token, claims };
};

// -------------------------------------------------------------------------------------
// reading
// -------------------------------------------------------------------------------------

const malformed = (reason: string): E.Either<TokenRejection, never> => E.left({ _tag: "Malformed", reason });

const B64URL = /^[A-Za-z0-9_-]+$/;

const segment = (text: string, what: string): E.Either<TokenRejection, unknown> => {
  if (!B64URL.test(text)) return malformed(`its ${what} is not base64url`);
  try {
    return E.right(JSON.parse(Buffer.from(text, "base64url").toString("utf8")));
  } catch {
    return malformed(`its ${what} is not JSON`);
  }
};

const NumericDate = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, "NumericDate");
// jti becomes part of a NATS subject (the inbox of the redemption) and a KV key: one token, no dots or wildcards.
const Jti = t.refinement(t.string, (s) => /^[A-Za-z0-9_-]{8,64}$/.test(s), "TokenId");
const Header = t.type({ alg: t.literal("EdDSA"), kid: t.string, typ: t.literal(TOKEN_TYPE) });
const Payload = t.type({ jti: Jti, sub: t.string, aud: t.string, iat: NumericDate, exp: NumericDate });

/** The claims of a token, checked for shape only (no signature, no expiry). */
export const readEnrollmentToken = (token: string): E.Either<TokenRejection, EnrollmentClaims> => {
  const text = token.trim();
  const parts = text.split(".");
  if (parts.length !== 3) return malformed(`expected three dot-separated parts (a compact JWS), found ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(s)) return malformed("its signature is not base64url");
  const header = segment(h, "header");
  if (E.isLeft(header)) return header;
  const hd = Header.decode(header.right);
  if (E.isLeft(hd)) return malformed(`header: ${formatValidationErrors(hd.left)}`);
  const payload = segment(p, "payload");
  if (E.isLeft(payload)) return payload;
  const pd = Payload.decode(payload.right);
  if (E.isLeft(pd)) return malformed(`claims: ${formatValidationErrors(pd.left)}`);
  const device = parseDeviceId(pd.right.sub);
  if (E.isLeft(device)) return malformed(`claims: sub: ${JSON.stringify(pd.right.sub)} is not a device id`);
  if (pd.right.exp <= pd.right.iat) return malformed("claims: it expires before it was issued");
  return E.right({
    jti: pd.right.jti,
    device: device.right,
    audience: pd.right.aud,
    issuedAt: new Date(pd.right.iat * 1000),
    expiresAt: new Date(pd.right.exp * 1000),
    kid: hd.right.kid,
  });
};

/** Expired at `now`: `exp` is the first second it is no longer valid (RFC 7519). */
export const isExpired = (claims: Pick<EnrollmentClaims, "expiresAt">, now: Date): boolean => now.getTime() >= claims.expiresAt.getTime();

// -------------------------------------------------------------------------------------
// verification
// -------------------------------------------------------------------------------------

export interface VerifyOptions {
  readonly now: Date;
  /** The audience this service enrols into. */
  readonly audience: string;
}

/** Checks the key, the signature, the expiry and the audience, in that order; never throws. */
export const verifyEnrollmentToken = async (token: string, key: EnrollmentVerifier, options: VerifyOptions): Promise<E.Either<TokenRejection, EnrollmentClaims>> => {
  const read = readEnrollmentToken(token);
  if (E.isLeft(read)) return read;
  const claims = read.right;
  if (claims.kid !== key.kid) return E.left({ _tag: "UnknownKey", kid: claims.kid });
  try {
    await compactVerify(token.trim(), key.publicKey, { algorithms: ["EdDSA"] });
  } catch {
    return E.left({ _tag: "BadSignature" });
  }
  if (isExpired(claims, options.now)) return E.left({ _tag: "Expired", at: claims.expiresAt });
  if (claims.audience !== options.audience) return E.left({ _tag: "WrongAudience", audience: claims.audience, expected: options.audience });
  return E.right(claims);
};

export const formatTokenRejection = (r: TokenRejection): string => {
  switch (r._tag) {
    case "Malformed":
      return `not an enrollment token: ${r.reason}`;
    case "UnknownKey":
      return `signed by enrollment key ${r.kid}, which this service does not hold (a token from another control plane?)`;
    case "BadSignature":
      return "its signature does not verify (the token was altered)";
    case "Expired":
      return `it expired at ${r.at.toISOString()} (issue a new one: fleet credentials token)`;
    case "WrongAudience":
      return `it is for ${r.audience}, not for ${r.expected} (a token for another server or account)`;
  }
};
