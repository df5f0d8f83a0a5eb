import { describe, expect, it } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { calculateJwkThumbprint } from "jose";
import {
  addKey,
  decodeSigningKey,
  decodeTrustStore,
  emptyTrustStore,
  encodeSigningKey,
  encodeTrustStore,
  formatKeyFileError,
  generateSigningKey,
  keyFor,
  retireKey,
  revokeKey,
} from "../../src/trust/Keys.ts";

const T0 = new Date("2026-12-01T00:00:00.000Z");

describe("signing keys and the trust store", () => {
  it("a key's id is its RFC 7638 thumbprint, as jose computes it", async () => {
    for (let i = 0; i < 5; i++) {
      const k = generateSigningKey(T0);
      expect(k.kid).toBe(await calculateJwkThumbprint({ ...k.publicJwk }));
    }
  });

  it("key files and trust files round-trip", () => {
    const k = generateSigningKey(T0);
    const back = decodeSigningKey(encodeSigningKey(k));
    expect(E.isRight(back) && back.right.kid === k.kid && back.right.publicJwk.x === k.publicJwk.x).toBe(true);
    const store = E.getOrElseW(() => emptyTrustStore)(
      retireKey(k.kid, new Date(T0.getTime() + 1000))(addKey(generateSigningKey(T0).publicJwk, T0)(addKey(k.publicJwk, T0)(emptyTrustStore))),
    );
    const decoded = decodeTrustStore(encodeTrustStore(store));
    expect(E.isRight(decoded) && encodeTrustStore(decoded.right)).toBe(encodeTrustStore(store));
  });

  it("a trust file whose kid names other key material is refused", () => {
    const a = generateSigningKey(T0);
    const b = generateSigningKey(T0);
    const text = encodeTrustStore(addKey(a.publicJwk, T0)(emptyTrustStore)).replace(a.publicJwk.x, b.publicJwk.x);
    const r = decodeTrustStore(text);
    expect(E.isLeft(r) && r.left._tag).toBe("KidMismatch");
  });

  it("a key file whose private half belongs to another key is refused", () => {
    const a = generateSigningKey(T0);
    const b = JSON.parse(encodeSigningKey(generateSigningKey(T0))) as { jwk: { d: string } };
    const file = JSON.parse(encodeSigningKey(a)) as { jwk: { d: string } };
    file.jwk.d = b.jwk.d;
    const r = decodeSigningKey(JSON.stringify(file));
    expect(E.isLeft(r) && r.left._tag).toBe("BadKey");
  });

  test.prop([fc.integer({ min: -5000, max: 5000 }), fc.boolean()])("a retired key is valid exactly until its end; a revoked key never", (dt, revoked) => {
    const k = generateKeyOnce();
    const until = new Date(T0.getTime() + 1000);
    let store = E.getOrElseW(() => emptyTrustStore)(retireKey(k.kid, until)(addKey(k.publicJwk, T0)(emptyTrustStore)));
    if (revoked) store = E.getOrElseW(() => emptyTrustStore)(revokeKey(k.kid, T0, "leaked")(store));
    const now = new Date(until.getTime() + dt);
    const r = keyFor(store, k.kid, now);
    expect(E.isRight(r)).toBe(!revoked && dt <= 0);
  });

  test.prop([fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ v: 1, keys: [v] })))])(
    "decoders of key and trust files never throw, and every error says why",
    (text) => {
      for (const r of [decodeTrustStore(text), decodeSigningKey(text)]) if (E.isLeft(r)) expect(formatKeyFileError(r.left)).not.toBe("");
    },
  );
});

let cached: ReturnType<typeof generateSigningKey> | undefined;
const generateKeyOnce = () => (cached ??= generateSigningKey(T0));
