/**
 * Signed desired entries: what verifies and what is rejected, with why.
 * Laws over random batches; a differential test against jose's own verifier;
 * a fuzz of the verifier with arbitrary signature objects (never throws).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { compactVerify } from "jose";
import { addKey, emptyTrustStore, generateSigningKey, retireKey, revokeKey, type SigningKey, type TrustStore } from "../../src/trust/Keys.ts";
import { formatRejection, nextRevision, verifyEntry, type EntryClaims, type EntrySignature } from "../../src/trust/SignedEntry.ts";
import { signEntries } from "../../src/trust/SignedTree.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";

const T0 = new Date("2026-12-01T00:00:00.000Z");
const LATER = new Date("2026-12-02T00:00:00.000Z");
const DAY = 86_400_000;

let key: SigningKey;
let other: SigningKey;
let trust: TrustStore;

beforeAll(() => {
  key = generateSigningKey(T0);
  other = generateSigningKey(T0);
  trust = addKey(key.publicJwk, T0)(emptyTrustStore);
});

const label = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const claimsArb = fc
  .uniqueArray(fc.record({ device: label, deployment: label, specHash: fc.stringMatching(/^sha256:[0-9a-f]{8}$/), revision: fc.nat() }), {
    minLength: 1,
    maxLength: 40,
    selector: (c) => `${c.device}.${c.deployment}`,
  })
  .map((cs) => cs as unknown as EntryClaims[]);

const sign = (cs: ReadonlyArray<EntryClaims>, k: SigningKey = key, exp: Date = new Date(T0.getTime() + 7 * DAY)) =>
  signEntries(cs, k, { issuedAt: T0, expiresAt: exp, plan: "plan-1" });

const ctxFor = (c: EntryClaims, t: TrustStore = trust, now: Date = LATER) => ({
  trust: t,
  device: c.device,
  deployment: c.deployment,
  statedSpecHash: c.specHash,
  actualSpecHash: c.specHash,
  now,
});

const tagOf = (r: E.Either<{ _tag: string }, unknown>): string => (E.isLeft(r) ? r.left._tag : "Verified");

describe("signed entries", () => {
  test.prop([claimsArb], { numRuns: 30 })("every entry of a batch verifies for its own device, deployment and spec", async (cs) => {
    const sigs = await sign(cs);
    cs.forEach((c, i) => {
      const r = verifyEntry(sigs[i]!, ctxFor(c));
      expect(tagOf(r)).toBe("Verified");
      if (E.isRight(r)) expect(r.right.claims).toEqual(c);
    });
  });

  test.prop([claimsArb, fc.nat()], { numRuns: 30 })("an entry copied under another device's key is rejected as for another device", async (cs, at) => {
    const sigs = await sign(cs);
    const i = at % cs.length;
    const c = cs[i]!;
    const r = verifyEntry(sigs[i]!, { ...ctxFor(c), device: `x${c.device}` as DeviceId });
    expect(tagOf(r)).toBe("WrongDevice");
  });

  test.prop([claimsArb, fc.nat()], { numRuns: 30 })("a signature moved to another entry of the same batch is rejected", async (cs, at) => {
    fc.pre(cs.length > 1);
    const sigs = await sign(cs);
    const i = at % cs.length;
    const j = (i + 1) % cs.length;
    // Keep the claimed names of entry j but the proof and index of entry i: the tree says no.
    const moved: EntrySignature = { ...sigs[i]!, device: cs[j]!.device, deployment: cs[j]!.deployment };
    const r = verifyEntry(moved, ctxFor(cs[j]!));
    expect(tagOf(r)).toBe("NotInBatch");
  });

  test.prop([claimsArb, fc.nat(), fc.nat()], { numRuns: 30 })("a changed revision, spec hash or proof byte is rejected", async (cs, at, flip) => {
    const sigs = await sign(cs);
    const i = at % cs.length;
    const c = cs[i]!;
    expect(tagOf(verifyEntry({ ...sigs[i]!, revision: c.revision + 1 }, ctxFor(c)))).toBe("NotInBatch");
    expect(tagOf(verifyEntry(sigs[i]!, { ...ctxFor(c), statedSpecHash: `${c.specHash}0` }))).toBe("NotInBatch");
    const proof = Buffer.from(sigs[i]!.proof, "base64url");
    if (proof.length > 0) {
      proof[flip % proof.length] = (proof[flip % proof.length]! ^ 1) & 0xff;
      expect(tagOf(verifyEntry({ ...sigs[i]!, proof: proof.toString("base64url") }, ctxFor(c)))).toBe("NotInBatch");
    }
  });

  it("an apply larger than one tree signs every entry, each verifiable on its own, with short proofs", async () => {
    const cs = Array.from({ length: 600 }, (_, i) => ({ device: `d-${i}`, deployment: "web", specHash: "sha256:aaaa", revision: i })) as unknown as EntryClaims[];
    const sigs = await sign(cs);
    expect(new Set(sigs.map((s) => s.jws)).size).toBe(3);
    cs.forEach((c, i) => expect(tagOf(verifyEntry(sigs[i]!, ctxFor(c)))).toBe("Verified"));
    expect(Math.max(...sigs.map((s) => Buffer.from(s.proof, "base64url").length / 32))).toBeLessThanOrEqual(8);
    // Entry 300's proof under the token of the first tree: not in that tree.
    expect(tagOf(verifyEntry({ ...sigs[300]!, jws: sigs[0]!.jws }, ctxFor(cs[300]!)))).toBe("NotInBatch");
  });

  it("a spec whose content does not hash to the signed spec hash is rejected", async () => {
    const c = { device: "pi-01", deployment: "web", specHash: "sha256:aaaa", revision: 1 } as unknown as EntryClaims;
    const [s] = await sign([c]);
    expect(tagOf(verifyEntry(s!, { ...ctxFor(c), actualSpecHash: "sha256:bbbb" }))).toBe("SpecMismatch");
  });

  it("expired entries, unknown, retired and revoked keys, and forged tokens are rejected, each with its reason", async () => {
    const c = { device: "pi-01", deployment: "web", specHash: "sha256:aaaa", revision: 1 } as unknown as EntryClaims;
    const [s] = await sign([c]);
    const [expired] = await sign([c], key, new Date(T0.getTime() + 1000));
    expect(tagOf(verifyEntry(expired!, ctxFor(c)))).toBe("Expired");
    const [foreign] = await sign([c], other);
    expect(tagOf(verifyEntry(foreign!, ctxFor(c)))).toBe("UnknownKey");
    const retired = E.getOrElseW(() => trust)(retireKey(key.kid, new Date(T0.getTime() + 1000))(trust));
    expect(tagOf(verifyEntry(s!, ctxFor(c, retired)))).toBe("RetiredKey");
    expect(tagOf(verifyEntry(s!, ctxFor(c, retired, new Date(T0.getTime() + 500))))).toBe("Verified");
    const revoked = E.getOrElseW(() => trust)(revokeKey(key.kid, T0, "leaked")(trust));
    expect(tagOf(verifyEntry(s!, ctxFor(c, revoked)))).toBe("RevokedKey");
    // A token signed by another key but claiming this key's kid.
    const [h, p] = foreign!.jws.split(".");
    const header = Buffer.from(JSON.stringify({ alg: "EdDSA", kid: key.kid })).toString("base64url");
    const forged = `${header}.${p}.${foreign!.jws.split(".")[2]}`;
    expect(h).not.toBe(header);
    expect(tagOf(verifyEntry({ ...s!, jws: forged }, ctxFor(c)))).toBe("BadSignature");
    for (const r of [verifyEntry(expired!, ctxFor(c)), verifyEntry({ ...s!, jws: forged }, ctxFor(c))])
      expect(E.isLeft(r) && formatRejection(r.left).length > 10).toBe(true);
  });

  test.prop([fc.boolean(), fc.nat({ max: 3 }), fc.nat()], { numRuns: 60 })(
    "the synchronous verifier agrees with jose's compactVerify on valid and corrupted tokens",
    async (corrupt, part, at) => {
      const c = { device: "pi-01", deployment: "web", specHash: "sha256:aaaa", revision: 1 } as unknown as EntryClaims;
      const [s] = await sign([c]);
      let jws = s!.jws;
      if (corrupt) {
        const parts = jws.split(".");
        const seg = parts[part % 3]!;
        const k = at % seg.length;
        const ch = seg[k] === "A" ? "B" : "A";
        parts[part % 3] = seg.slice(0, k) + ch + seg.slice(k + 1);
        jws = parts.join(".");
      }
      const joseOk = await compactVerify(jws, trust.keys.get(key.kid)!.publicKey).then(
        () => true,
        () => false,
      );
      const ours = verifyEntry({ ...s!, jws }, ctxFor(c));
      // A corrupted header may still decode to the same claims: judge only the signature's verdict.
      const oursOk = E.isRight(ours);
      expect(oursOk).toBe(joseOk);
    },
  );

  test.prop([
    fc.record({
      device: fc.oneof(fc.string(), fc.constant("pi-01")),
      deployment: fc.oneof(fc.string(), fc.constant("web")),
      revision: fc.oneof(fc.integer(), fc.double(), fc.constant(-1)),
      index: fc.oneof(fc.integer(), fc.double()),
      proof: fc.oneof(fc.string(), fc.base64String()),
      jws: fc.oneof(fc.string(), fc.array(fc.base64String(), { minLength: 3, maxLength: 3 }).map((xs) => xs.join("."))),
    }),
  ])("the verifier never throws on arbitrary signatures, and every rejection says why", (sig) => {
    const c = { device: "pi-01", deployment: "web", specHash: "sha256:aaaa", revision: 1 } as unknown as EntryClaims;
    const r = verifyEntry(sig as unknown as EntrySignature, ctxFor(c));
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) expect(formatRejection(r.left)).not.toBe("");
  });

  test.prop([fc.option(fc.nat(), { nil: undefined }), fc.integer({ min: 0, max: 4e12 })])("revisions increase per key, whatever the clock says", (prev, t) => {
    const r = nextRevision(prev, new Date(t));
    if (prev !== undefined) expect(r).toBeGreaterThan(prev);
    expect(r).toBeGreaterThanOrEqual(t);
  });
});
