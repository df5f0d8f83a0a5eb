/**
 * The device side of enrollment: generate a user key pair on the device,
 * present the token with the public key, and turn the answer into the
 * device's `DeviceCredential` (a creds file: the minted JWT and the seed that
 * never left the device).
 *
 * Before connecting it reads the bundle's token and refuses an expired one
 * with its expiry (the service and the server would refuse it too, less
 * clearly). After the answer it checks that the JWT is for this key, this
 * device and the token's account before anything is written.
 */
import { decode as decodeJwt, fmtCreds, type User } from "@nats-io/jwt";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { isExpired, type EnrollmentClaims } from "../../trust/EnrollmentToken.ts";
import { deviceUserName } from "./Credentials.ts";
import { serverList, type ConnectionSettings } from "./Connection.ts";
import { credsAccount } from "./CredsFile.ts";
import { decodeReply, encodeRequest, ENROLL_SUBJECT, enrollInboxPrefix, type DeviceCredential, type EnrollmentBundle } from "./Enrollment.ts";

export type EnrollError =
  | { readonly _tag: "Expired"; readonly at: Date }
  | { readonly _tag: "CredsRefused"; readonly servers: string; readonly audience: string; readonly reason: string }
  | { readonly _tag: "Unreachable"; readonly servers: string; readonly reason: string }
  | { readonly _tag: "NoService"; readonly servers: string }
  | { readonly _tag: "NoAnswer"; readonly servers: string; readonly attempts: number }
  | { readonly _tag: "Refused"; readonly code: string; readonly message: string }
  | { readonly _tag: "BadAnswer"; readonly reason: string };

export interface EnrollOptions {
  readonly now: Date;
  /** Per attempt, ms. Default 5 000. */
  readonly timeoutMs?: number;
  /** Attempts when no answer comes (the same key each time: the service answers a retry again). Default 3. */
  readonly attempts?: number;
}

const text = (u: Uint8Array): string => new TextDecoder().decode(u);

export const enrollDevice = async (
  bundle: EnrollmentBundle,
  claims: EnrollmentClaims,
  connection: Pick<ConnectionSettings, "servers" | "tls">,
  options: EnrollOptions,
): Promise<E.Either<EnrollError, DeviceCredential>> => {
  if (isExpired(claims, options.now)) return E.left({ _tag: "Expired", at: claims.expiresAt });
  const servers = serverList(connection.servers);
  const where = servers.join(",");
  const settings: NodeConnectionOptions = {
    servers,
    name: `fleet-enroll ${claims.device}`,
    inboxPrefix: enrollInboxPrefix(claims.jti),
    authenticator: credsAuthenticator(new TextEncoder().encode(bundle.creds)),
    timeout: options.timeoutMs ?? 5_000,
    maxReconnectAttempts: 0,
    ...(connection.tls !== undefined ? { tls: { ...connection.tls } } : {}),
  };
  let nc: NatsConnection;
  try {
    nc = await connect(settings);
  } catch (e) {
    const reason = errorMessage(e);
    if ((e instanceof Error && e.name === "AuthorizationError") || /authori[sz]ation/i.test(reason))
      return E.left({ _tag: "CredsRefused", servers: where, audience: claims.audience, reason });
    return E.left({ _tag: "Unreachable", servers: where, reason });
  }
  const user = createUser();
  const publicKey = user.getPublicKey();
  try {
    const attempts = options.attempts ?? 3;
    for (let i = 0; i < attempts; i++) {
      let data: Uint8Array;
      try {
        data = (await nc.request(ENROLL_SUBJECT, encodeRequest({ token: bundle.token, publicKey }), { timeout: options.timeoutMs ?? 5_000 })).data;
      } catch (e) {
        if (/no responders/i.test(errorMessage(e)) || (e instanceof Error && e.name === "NoRespondersError")) return E.left({ _tag: "NoService", servers: where });
        if (/timeout/i.test(errorMessage(e)) || (e instanceof Error && e.name === "TimeoutError")) continue;
        return E.left({ _tag: "Unreachable", servers: where, reason: errorMessage(e) });
      }
      const reply = decodeReply(data);
      if (E.isLeft(reply)) return E.left({ _tag: "BadAnswer", reason: reply.left });
      if (reply.right._tag === "Refused") return E.left({ _tag: "Refused", code: reply.right.code, message: reply.right.message });
      return checkCredential(reply.right.jwt, claims, user);
    }
    return E.left({ _tag: "NoAnswer", servers: where, attempts });
  } finally {
    await nc.close().catch(() => undefined);
  }
};

/** The minted JWT must be for this key, this device and the token's account. */
const checkCredential = (jwt: string, claims: EnrollmentClaims, user: KeyPair): E.Either<EnrollError, DeviceCredential> => {
  const publicKey = user.getPublicKey();
  let c;
  try {
    c = decodeJwt<User>(jwt);
  } catch (e) {
    return E.left({ _tag: "BadAnswer", reason: `the credential does not decode (${errorMessage(e)})` });
  }
  if (c.sub !== publicKey) return E.left({ _tag: "BadAnswer", reason: `the credential is for key ${c.sub}, not this device's ${publicKey}` });
  if (credsAccount(c) !== claims.audience) return E.left({ _tag: "BadAnswer", reason: `the credential is for account ${credsAccount(c)}, not ${claims.audience}` });
  if (c.name !== deviceUserName(claims.device)) return E.left({ _tag: "BadAnswer", reason: `the credential is named ${JSON.stringify(c.name)}, not ${deviceUserName(claims.device)}` });
  return E.right({ _tag: "DeviceCredential", device: claims.device, publicKey, issuer: c.iss, audience: credsAccount(c), creds: text(fmtCreds(jwt, user)) });
};

export const formatEnrollError = (e: EnrollError): string => {
  switch (e._tag) {
    case "Expired":
      return `the enrollment token expired at ${e.at.toISOString()} (issue a new one: fleet credentials token)`;
    case "CredsRefused":
      return `NATS server ${e.servers} refused the token's enrollment creds (${e.reason}): the token is for account ${e.audience}; is this that fleet's server, and is the token still valid?`;
    case "Unreachable":
      return `NATS server ${e.servers} is unreachable: ${e.reason}`;
    case "NoService":
      return `no enrollment service answers on ${ENROLL_SUBJECT} at ${e.servers} (the control plane runs it: fleet credentials serve)`;
    case "NoAnswer":
      return `the enrollment service at ${e.servers} did not answer (${e.attempts} attempts)`;
    case "Refused":
      return `enrollment refused: ${e.message}`;
    case "BadAnswer":
      return `the enrollment service's answer is unusable: ${e.reason}`;
  }
};
