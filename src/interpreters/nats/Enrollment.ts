/**
 * Enrollment on NATS: a fresh device exchanges a single-use, expiring
 * enrollment token for its own least-privilege credential.
 *
 * The seeds' vocabulary, as types:
 * - `EnrollmentIntent`: what can mint credentials (the fleet account's
 *   signing seed and the enrollment key). It stays with the control plane:
 *   `fleet credentials token` and the enrollment service hold it.
 * - `EnrollmentBundle`: what `fleet credentials token` hands to one device:
 *   the token (trust/EnrollmentToken.ts) and the creds of a user made for
 *   that token alone, allowed only to ask the enrollment service
 *   (`fleet.enroll`) and hear the answer on the token's own inbox prefix;
 *   that user expires with the token, so the server itself refuses an
 *   expired token's connection.
 * - `DeviceCredential`: the resolved credential (key material, issuer,
 *   audience) that the device ends with. The device generates its key pair;
 *   only the public key travels (like a CSR), and the service answers with a
 *   user JWT for it whose permissions are `devicePermissions(id)`.
 *
 * Wire (JSON, small and permissive, `v: 1`): a request `{ token, publicKey }`
 * on `fleet.enroll`; a reply `{ jwt }` or `{ refused: { code, message } }`.
 * Every decoder here is fuzzed (test/laws/enrollment-token.test.ts).
 */
import { fromPublic } from "@nats-io/nkeys";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import type { SigningKey } from "../../trust/Keys.ts";
import { readEnrollmentToken, signEnrollmentToken, type EnrollmentClaims } from "../../trust/EnrollmentToken.ts";
import { credsAccount, credsClaims } from "./CredsFile.ts";
import { issueCreds, type OperatorSetup, type SubjectPermissions } from "./Credentials.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** The subject the enrollment service answers on. */
export const ENROLL_SUBJECT = "fleet.enroll";
/** Where the service records redeemed tokens (key: the token's jti; created only, never updated). */
export const ENROLLMENT_BUCKET = "fleet-enrollments";

/** Admin credentials that can mint device credentials; never sent to a device. */
export interface EnrollmentIntent {
  readonly _tag: "EnrollmentIntent";
  readonly setup: Pick<OperatorSetup, "account" | "accountSigningSeed">;
  readonly enrollmentKey: SigningKey;
}

/** What one device receives to enrol: its token and the creds that may only present it. */
export interface EnrollmentBundle {
  readonly token: string;
  readonly creds: string;
}

/** A device's resolved credential: only this ever reaches a device. */
export interface DeviceCredential {
  readonly _tag: "DeviceCredential";
  readonly device: DeviceId;
  /** The user's public nkey; its seed is in `creds` and was made on the device. */
  readonly publicKey: string;
  /** The account signing key that signed the JWT. */
  readonly issuer: string;
  /** The account the credential is valid in. */
  readonly audience: string;
  /** The creds file (JWT and seed). */
  readonly creds: string;
}

/** The audience of tokens for a fleet account. */
export const audienceOf = (setup: Pick<OperatorSetup, "account">): string => setup.account.publicKey;

/** The inbox prefix of one token's redemption: its creds allow no other. */
export const enrollInboxPrefix = (jti: string): string => `_INBOX_ENROLL_${jti}`;

/** What the user of one token's bundle may do: ask the service, hear the answer. */
export const enrollPermissions = (jti: string): SubjectPermissions => ({ pub: [ENROLL_SUBJECT], sub: [`${enrollInboxPrefix(jti)}.>`] });

// -------------------------------------------------------------------------------------
// issuing a bundle
// -------------------------------------------------------------------------------------

export interface BundleOptions {
  readonly now: Date;
  readonly ttlMs: number;
  readonly jti?: string;
}

export const issueEnrollmentBundle = async (
  intent: EnrollmentIntent,
  device: DeviceId,
  options: BundleOptions,
): Promise<{ readonly bundle: EnrollmentBundle; readonly claims: EnrollmentClaims }> => {
  const { token, claims } = await signEnrollmentToken(intent.enrollmentKey, {
    device,
    audience: audienceOf(intent.setup),
    now: options.now,
    ttlMs: options.ttlMs,
    ...(options.jti !== undefined ? { jti: options.jti } : {}),
  });
  const creds = await issueCreds(intent.setup, `enroll-${device}`, enrollPermissions(claims.jti), { expiresAt: claims.expiresAt });
  return { bundle: { token, creds }, claims };
};

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

const BundleV1 = t.type({ v: t.literal(1), kind: t.literal("fleet-enrollment"), token: t.string, creds: t.string });

export const encodeBundle = (b: EnrollmentBundle): string => `${JSON.stringify(BundleV1.encode({ v: 1, kind: "fleet-enrollment", ...b }), null, 2)}\n`;

/** Why a bundle file cannot be used (formatted with the file's name at the edge). */
export type BundleError =
  | { readonly _tag: "NotJson"; readonly reason: string }
  | { readonly _tag: "InvalidShape"; readonly reason: string }
  | { readonly _tag: "BadToken"; readonly reason: string }
  | { readonly _tag: "BadCreds"; readonly reason: string };

/** A bundle file: its shape, its token's claims (no signature: a device holds no enrollment key), its creds' JWT. */
export const decodeBundle = (text: string): E.Either<BundleError, { readonly bundle: EnrollmentBundle; readonly claims: EnrollmentClaims}> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left({ _tag: "NotJson", reason: errorMessage(e) });
  }
  const file = BundleV1.decode(json);
  if (E.isLeft(file)) return E.left({ _tag: "InvalidShape", reason: formatValidationErrors(file.left) });
  const claims = readEnrollmentToken(file.right.token);
  if (E.isLeft(claims)) return E.left({ _tag: "BadToken", reason: claims.left._tag === "Malformed" ? claims.left.reason : claims.left._tag });
  const creds = credsClaims(file.right.creds);
  if (E.isLeft(creds)) return E.left({ _tag: "BadCreds", reason: creds.left });
  if (credsAccount(creds.right) !== claims.right.audience)
    return E.left({ _tag: "BadCreds", reason: `its creds are for account ${credsAccount(creds.right)}, its token for ${claims.right.audience}` });
  return E.right({
    bundle: { token: file.right.token, creds: file.right.creds },
    claims: claims.right,
  });
};

export const formatBundleError = (e: BundleError): string => {
  switch (e._tag) {
    case "NotJson":
      return `not an enrollment bundle: not JSON (${e.reason})`;
    case "InvalidShape":
      return `not an enrollment bundle (fleet credentials token writes one): ${e.reason}`;
    case "BadToken":
      return `its enrollment token is malformed: ${e.reason}`;
    case "BadCreds":
      return `its enrollment creds are unusable: ${e.reason}`;
  }
};

const RequestV1 = t.type({ v: t.literal(1), token: t.string, publicKey: t.string });
export type EnrollRequest = { readonly token: string; readonly publicKey: string };

export const encodeRequest = (r: EnrollRequest): string => JSON.stringify(RequestV1.encode({ v: 1, ...r }));

/** A message's bytes as JSON of `codec`'s shape, or why not, in one line. */
const decodeJsonMessage = <A>(codec: t.Decoder<unknown, A>, data: Uint8Array): E.Either<string, A> => {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (e) {
    return E.left(`not JSON (${errorMessage(e)})`);
  }
  return E.mapLeft(formatValidationErrors)(codec.decode(json));
};

/** A request as the service receives it (any bytes), or why it is not one. */
export const decodeRequest = (data: Uint8Array): E.Either<string, EnrollRequest> => {
  const r = decodeJsonMessage(RequestV1, data);
  if (E.isLeft(r)) return r;
  const pk = publicUserKey(r.right.publicKey);
  if (E.isLeft(pk)) return pk;
  return E.right({ token: r.right.token, publicKey: pk.right });
};

/** A user's public nkey (`U…`, checksum valid), or why not. */
export const publicUserKey = (s: string): E.Either<string, string> => {
  try {
    fromPublic(s);
  } catch (e) {
    return E.left(`publicKey: not a public nkey (${errorMessage(e)})`);
  }
  return s.startsWith("U") ? E.right(s) : E.left("publicKey: not a user's public nkey (it must start with U)");
};

/** Why the service refused: a stable code for tools, a message for people. */
export type RefusalCode = "bad-request" | "malformed" | "unknown-key" | "bad-signature" | "expired" | "wrong-audience" | "already-used" | "unavailable";

export type EnrollReply = { readonly _tag: "Enrolled"; readonly jwt: string } | { readonly _tag: "Refused"; readonly code: string; readonly message: string };

const ReplyV1 = t.union([
  t.type({ v: t.literal(1), jwt: t.string }),
  t.type({ v: t.literal(1), refused: t.type({ code: t.string, message: t.string }) }),
]);

export const encodeReply = (r: EnrollReply): string =>
  JSON.stringify(r._tag === "Enrolled" ? { v: 1, jwt: r.jwt } : { v: 1, refused: { code: r.code, message: r.message } });

/** A reply as the device receives it, or why it is not one. */
export const decodeReply = (data: Uint8Array): E.Either<string, EnrollReply> => {
  const r = decodeJsonMessage(ReplyV1, data);
  if (E.isLeft(r)) return r;
  return E.right("jwt" in r.right ? { _tag: "Enrolled", jwt: r.right.jwt } : { _tag: "Refused", code: r.right.refused.code, message: r.right.refused.message });
};
