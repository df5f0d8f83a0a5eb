/**
 * Enrollment tokens and the enrollment wire. Laws:
 * - a token signed for (device, audience) verifies before its expiry, for
 *   that audience, under its key, and gives back exactly its claims;
 * - at or after its expiry, for another audience, under another key, or
 *   with any character changed, it is rejected, with the reason;
 * - every decoder of outside data here (token, bundle file, request, reply,
 *   creds file) rejects garbage and near misses with a reason and never throws.
 */
import { createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { generateSigningKey } from "../../src/trust/Keys.ts";
import { formatTokenRejection, readEnrollmentToken, signEnrollmentToken, verifyEnrollmentToken, type EnrollmentVerifier } from "../../src/trust/EnrollmentToken.ts";
import { decodeBundle, decodeReply, decodeRequest, encodeBundle, formatBundleError } from "../../src/interpreters/nats/Enrollment.ts";
import { credsClaims, describeRefusedCreds } from "../../src/interpreters/nats/CredsFile.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";

const key = generateSigningKey(new Date("2026-01-01T00:00:00Z"));
const other = generateSigningKey(new Date("2026-01-01T00:00:00Z"));
const verifier = (k = key): EnrollmentVerifier => ({ kid: k.kid, publicKey: createPublicKey(k.privateKey) });
const AUD = "AFLEETACCOUNT";
const T0 = new Date("2026-06-01T12:00:00Z");

const deviceArb = fc.stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,14}[a-z0-9])?$/).map((s) => s as DeviceId);
const ttlArb = fc.integer({ min: 1, max: 30 * 24 * 3600 }).map((s) => s * 1000);
const sign = (device: DeviceId, ttlMs: number, audience = AUD, k = key) => signEnrollmentToken(k, { device, audience, now: T0, ttlMs });

describe("enrollment tokens", () => {
  test.prop([deviceArb, ttlArb, fc.double({ min: 0, max: 0.999, noNaN: true })], { numRuns: 50 })("verifies before its expiry, for its audience, and gives back its claims", async (device, ttlMs, f) => {
    const { token, claims } = await sign(device, ttlMs);
    const at = new Date(T0.getTime() + Math.floor(f * (claims.expiresAt.getTime() - T0.getTime())));
    const v = await verifyEnrollmentToken(token, verifier(), { now: at, audience: AUD });
    expect(v).toEqual(E.right(claims));
    expect(claims.device).toBe(device);
  });

  test.prop([deviceArb, ttlArb, fc.integer({ min: 0, max: 10 ** 9 })], { numRuns: 50 })("is rejected at and after its expiry", async (device, ttlMs, late) => {
    const { token, claims } = await sign(device, ttlMs);
    const v = await verifyEnrollmentToken(token, verifier(), { now: new Date(claims.expiresAt.getTime() + late), audience: AUD });
    expect(v).toEqual(E.left({ _tag: "Expired", at: claims.expiresAt }));
  });

  test.prop([deviceArb, fc.string({ minLength: 1 })], { numRuns: 50 })("is rejected for another audience", async (device, aud) => {
    fc.pre(aud !== AUD);
    const { token } = await sign(device, 3_600_000, aud);
    const v = await verifyEnrollmentToken(token, verifier(), { now: T0, audience: AUD });
    expect(E.isLeft(v) && v.left._tag).toBe("WrongAudience");
  });

  it("is rejected under another key", async () => {
    const { token } = await sign("pi-01" as DeviceId, 3_600_000, AUD, other);
    expect(await verifyEnrollmentToken(token, verifier(), { now: T0, audience: AUD })).toEqual(E.left({ _tag: "UnknownKey", kid: other.kid }));
    // Another key under this key's id: the signature does not verify.
    expect(await verifyEnrollmentToken(token, { kid: other.kid, publicKey: createPublicKey(key.privateKey) }, { now: T0, audience: AUD })).toEqual(E.left({ _tag: "BadSignature" }));
  });

  test.prop([deviceArb, fc.nat(), fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")], { numRuns: 200 })(
    "any character changed is rejected, with a reason",
    async (device, pos, c) => {
      const { token } = await sign(device, 3_600_000);
      const i = pos % token.length;
      fc.pre(token[i] !== c);
      const altered = token.slice(0, i) + c + token.slice(i + 1);
      const v = await verifyEnrollmentToken(altered, verifier(), { now: T0, audience: AUD });
      // A change in the last character's padding bits can leave the decoded signature as it was.
      if (E.isRight(v)) {
        expect(i).toBe(token.length - 1);
        return;
      }
      expect(formatTokenRejection(v.left).length).toBeGreaterThan(10);
    },
  );
});

const jsonish = fc.oneof(fc.anything(), fc.string(), fc.record({ v: fc.constantFrom(1, 2, "1"), token: fc.anything(), creds: fc.anything(), kind: fc.anything(), publicKey: fc.anything(), jwt: fc.anything(), refused: fc.anything() }, { requiredKeys: [] }));
const b64 = fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/);
const tokenish = fc.oneof(
  fc.string(),
  fc.tuple(b64, b64, b64).map((p) => p.join(".")),
  fc.tuple(fc.anything(), fc.anything(), b64).map(([h, p, s]) => `${Buffer.from(JSON.stringify(h) ?? "").toString("base64url")}.${Buffer.from(JSON.stringify(p) ?? "").toString("base64url")}.${s}`),
  fc
    .record({ jti: fc.oneof(fc.uuid(), fc.string()), sub: fc.oneof(fc.constant("pi-01"), fc.string()), aud: fc.string(), iat: fc.oneof(fc.integer(), fc.double()), exp: fc.oneof(fc.integer(), fc.double()) }, { requiredKeys: [] })
    .map((p) => `${Buffer.from(JSON.stringify({ alg: "EdDSA", kid: "k", typ: "fleet-enroll+jwt" })).toString("base64url")}.${Buffer.from(JSON.stringify(p)).toString("base64url")}.AAAA`),
);

describe("enrollment decoders are fuzzed: a reason for every rejection, never a throw", () => {
  test.prop([tokenish], { numRuns: 300 })("tokens", async (t) => {
    const r = readEnrollmentToken(t);
    if (E.isLeft(r)) expect(formatTokenRejection(r.left)).toMatch(/^not an enrollment token: .{5,}/);
    const v = await verifyEnrollmentToken(t, verifier(), { now: T0, audience: AUD });
    expect(E.isLeft(v)).toBe(true);
    if (E.isLeft(v)) expect(formatTokenRejection(v.left).length).toBeGreaterThan(10);
  });

  test.prop([fc.oneof(fc.string(), jsonish.map((j) => JSON.stringify(j) ?? ""), tokenish.map((token) => JSON.stringify({ v: 1, kind: "fleet-enrollment", token, creds: "x" })))], { numRuns: 300 })(
    "bundle files",
    (text) => {
      const r = decodeBundle(text);
      expect(E.isLeft(r)).toBe(true);
      if (E.isLeft(r)) expect(formatBundleError(r.left)).toMatch(/: .{5,}/);
    },
  );

  test.prop([fc.oneof(fc.uint8Array(), jsonish.map((j) => new TextEncoder().encode(JSON.stringify(j) ?? "")))], { numRuns: 300 })("requests and replies", (data) => {
    const q = decodeRequest(data);
    if (E.isLeft(q)) expect(q.left.length).toBeGreaterThan(5);
    const r = decodeReply(data);
    if (E.isLeft(r)) expect(r.left.length).toBeGreaterThan(5);
  });

  test.prop([fc.oneof(fc.string(), b64.map((j) => `-----BEGIN NATS USER JWT-----\n${j}\n------END NATS USER JWT------\n`), tokenish.map((j) => `-----BEGIN NATS USER JWT-----\n${j}\n------END NATS USER JWT------\n`))], { numRuns: 300 })(
    "creds files",
    (text) => {
      const c = credsClaims(text);
      expect(E.isLeft(c)).toBe(true);
      if (E.isLeft(c)) expect(c.left.length).toBeGreaterThan(5);
      expect(describeRefusedCreds(text, T0)).toMatch(/^not a NATS creds file: .{5,}/);
    },
  );

  it("a bundle round-trips, and its token's claims are read without its key", async () => {
    const { token, claims } = await sign("pi-01" as DeviceId, 3_600_000);
    const creds = "-----BEGIN NATS USER JWT-----\nnot.a.jwt\n------END NATS USER JWT------\n";
    const r = decodeBundle(encodeBundle({ token, creds }));
    expect(E.isLeft(r) && formatBundleError(r.left)).toMatch(/^its enrollment creds are unusable: its user JWT does not decode/);
    expect(readEnrollmentToken(token)).toEqual(E.right(claims));
  });
});
