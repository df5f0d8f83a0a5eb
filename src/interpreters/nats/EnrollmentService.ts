/**
 * The enrollment service: the identity provider that mints device
 * credentials. It runs with the control plane's creds, answers on
 * `fleet.enroll` (a queue group: several may run), and for each request:
 *
 * 1. decodes it (a token and the device's public nkey);
 * 2. verifies the token: enrollment key, signature, expiry, audience (this
 *    account);
 * 3. records the token's jti in the `fleet-enrollments` bucket with a
 *    create-only write: of two concurrent redemptions exactly one creates
 *    the record, and the record outlives the service (a restart forgets
 *    nothing). A retry by the same public key (its reply was lost) is
 *    answered again; any other key is refused;
 * 4. mints a user JWT for that public key, named after the token's device,
 *    allowed exactly `devicePermissions(device)`.
 *
 * A failure to record (JetStream unavailable) refuses the request as
 * `unavailable` and consumes nothing: the device may try again.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { createPublicKey } from "node:crypto";
import { formatTokenRejection, verifyEnrollmentToken, type EnrollmentClaims, type TokenRejection } from "../../trust/EnrollmentToken.ts";
import { deviceUserName, devicePermissions, mintUserJwt } from "./Credentials.ts";
import { audienceOf, decodeRequest, encodeReply, ENROLL_SUBJECT, ENROLLMENT_BUCKET, type EnrollmentIntent, type EnrollReply, type RefusalCode } from "./Enrollment.ts";

export interface EnrollmentServiceOptions {
  readonly intent: EnrollmentIntent;
  /** The clock tokens are judged by. Default: the system clock. */
  readonly now?: () => Date;
  readonly log?: (line: string) => void;
  /** Replicas of the bucket when the service creates it. Default 1. */
  readonly replicas?: number;
}

export interface EnrollmentService {
  /** Stops answering; requests being answered finish first. */
  stop(): Promise<void>;
}

const Redemption = t.type({ device: t.string, publicKey: t.string, at: t.string });

const refused = (code: RefusalCode, message: string): EnrollReply => ({ _tag: "Refused", code, message });

const codeOf = (r: TokenRejection): RefusalCode => {
  switch (r._tag) {
    case "Malformed":
      return "malformed";
    case "UnknownKey":
      return "unknown-key";
    case "BadSignature":
      return "bad-signature";
    case "Expired":
      return "expired";
    case "WrongAudience":
      return "wrong-audience";
  }
};

/** Records the redemption, create-only; says who holds the token when someone already does. */
const record = async (kv: KV, claims: EnrollmentClaims, publicKey: string, now: Date): Promise<E.Either<EnrollReply, "recorded" | "retry">> => {
  try {
    await kv.create(claims.jti, JSON.stringify({ device: claims.device, publicKey, at: now.toISOString() }));
    return E.right("recorded");
  } catch (e) {
    let existing;
    try {
      existing = await kv.get(claims.jti);
    } catch (e2) {
      return E.left(refused("unavailable", `the redemption could not be recorded (${errorMessage(e2)}); try again`));
    }
    if (existing === null || existing.operation !== "PUT") return E.left(refused("unavailable", `the redemption could not be recorded (${errorMessage(e)}); try again`));
    let prior: unknown;
    try {
      prior = existing.json();
    } catch {
      prior = undefined;
    }
    const r = Redemption.decode(prior);
    if (E.isRight(r) && r.right.publicKey === publicKey) return E.right("retry");
    return E.left(refused("already-used", `the token was already used${E.isRight(r) ? ` at ${r.right.at}` : ""}; a token enrols one device once (issue a new one: fleet credentials token)`));
  }
};

export const startEnrollmentService = async (nc: NatsConnection, js: JetStreamClient, options: EnrollmentServiceOptions): Promise<EnrollmentService> => {
  const { intent } = options;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  const kv = await new Kvm(js).create(ENROLLMENT_BUCKET, {
    history: 1,
    storage: "file",
    replicas: options.replicas ?? 1,
    description: "fleet-algebra: redeemed enrollment tokens (<jti>), created once by the enrollment service",
  });
  const verifier = { kid: intent.enrollmentKey.kid, publicKey: createPublicKey(intent.enrollmentKey.privateKey) };
  const audience = audienceOf(intent.setup);

  const answer = async (msg: Msg): Promise<EnrollReply> => {
    const request = decodeRequest(msg.data);
    if (E.isLeft(request)) return refused("bad-request", `not an enrollment request: ${request.left}`);
    const at = now();
    const claims = await verifyEnrollmentToken(request.right.token, verifier, { now: at, audience });
    if (E.isLeft(claims)) return refused(codeOf(claims.left), formatTokenRejection(claims.left));
    const recorded = await record(kv, claims.right, request.right.publicKey, at);
    if (E.isLeft(recorded)) return recorded.left;
    const jwt = await mintUserJwt(intent.setup, deviceUserName(claims.right.device), request.right.publicKey, devicePermissions(claims.right.device), {});
    log(`enrolled ${claims.right.device} (token ${claims.right.jti}, key ${request.right.publicKey}${recorded.right === "retry" ? ", answered again" : ""})`);
    return { _tag: "Enrolled", jwt };
  };

  const inFlight = new Set<Promise<void>>();
  const sub: Subscription = nc.subscribe(ENROLL_SUBJECT, { queue: "fleet-enroll" });
  const loop = (async () => {
    for await (const msg of sub) {
      // Answered concurrently: the create-only record, not this loop, is what makes a token single-use.
      const p = answer(msg)
        .catch((e: unknown) => refused("unavailable", `the enrollment service failed: ${errorMessage(e)}`))
        .then((reply) => {
          if (reply._tag === "Refused") log(`refused an enrollment: ${reply.message}`);
          if (msg.reply !== undefined && msg.reply !== "") msg.respond(encodeReply(reply));
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  })();
  await nc.flush();
  return {
    stop: async () => {
      await sub.drain();
      await loop;
      await Promise.all([...inFlight]);
    },
  };
};
