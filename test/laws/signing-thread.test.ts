/**
 * The signing thread (src/trust/SigningThread.ts) signs what the apply
 * thread would: the same signatures, byte for byte (Ed25519 is
 * deterministic), for batches that span several trees; and a worker stopped,
 * or too slow to answer, with trees still to sign leaves nothing unsigned.
 * `signOnWorker` is the worker path without the size rule of
 * `signOffThread` (small calls are signed on the calling thread), so even
 * one-tree batches here cross threads. A batch's signatures are compared in
 * both forms: as objects, and as the JSON bytes a writer copies into values
 * (which must be exactly `signatureJson` of the object).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { generateSigningKey, type SigningKey } from "../../src/trust/Keys.ts";
import { signatureJson, signaturesOf, type SignedBatch } from "../../src/trust/SignedBatch.ts";
import type { EntryClaims, EntrySignature } from "../../src/trust/SignedEntry.ts";
import { ENTRIES_PER_TREE, signEntries } from "../../src/trust/SignedTree.ts";
import { signingThreadState, signOffThread, signOnWorker, stopSigningThread, warmSigningThread } from "../../src/trust/SigningThread.ts";

const T0 = new Date("2026-12-01T00:00:00.000Z");
const batch = { issuedAt: T0, expiresAt: new Date(T0.getTime() + 86_400_000), plan: "plan-1" };

let key: SigningKey;

/** Waits until the worker is up, so that the laws below really cross threads. */
const ready = async (): Promise<void> => {
  warmSigningThread();
  const until = Date.now() + 60_000;
  while (signingThreadState() === "starting" && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(signingThreadState()).toBe("ready");
};

beforeAll(async () => {
  key = generateSigningKey(T0);
  await ready();
}, 90_000);

afterAll(async () => {
  await stopSigningThread();
});

/** A batch in both its forms, and the forms a list of signatures signed here must have. */
const forms = (b: SignedBatch) => ({
  objects: signaturesOf(b),
  json: Array.from({ length: b.length }, (_, i) => Buffer.from(b.json(i)).toString("utf8")),
});
const expected = async (p: Promise<ReadonlyArray<EntrySignature>>) => {
  const sigs = await p;
  return { objects: [...sigs], json: sigs.map(signatureJson) };
};

const label = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const claims = (n: { min: number; max: number }) =>
  fc
    .array(fc.record({ device: label, deployment: label, specHash: fc.stringMatching(/^sha256:[0-9a-f]{8}$/), revision: fc.nat() }), { minLength: n.min, maxLength: n.max })
    .map((cs) => cs as unknown as EntryClaims[]);

describe("the signing thread", () => {
  test.prop([claims({ min: 1, max: 40 })], { numRuns: 25 })("signs a tree exactly as the calling thread does", async (cs) => {
    expect(forms(await signOnWorker(cs, key, batch))).toEqual(await expected(signEntries(cs, key, batch)));
  });

  test.prop([claims({ min: ENTRIES_PER_TREE + 1, max: 3 * ENTRIES_PER_TREE })], { numRuns: 5 })("signs several trees in one call exactly as the calling thread does", async (cs) => {
    expect(forms(await signOnWorker(cs, key, batch))).toEqual(await expected(signEntries(cs, key, batch)));
  });

  it("signs here what a stopped worker had not answered, then starts another", async () => {
    const cs = fc.sample(claims({ min: 2 * ENTRIES_PER_TREE, max: 2 * ENTRIES_PER_TREE }), { numRuns: 1, seed: 7 })[0] as EntryClaims[];
    const pending = signOnWorker(cs, key, batch);
    await stopSigningThread();
    expect(signingThreadState()).toBe("stopped");
    expect(forms(await pending)).toEqual(await expected(signEntries(cs, key, batch)));
    await ready();
  }, 90_000);

  it("signs here what the worker did not answer in time, retires that worker, and the next call starts another", async () => {
    const cs = fc.sample(claims({ min: 4 * ENTRIES_PER_TREE, max: 4 * ENTRIES_PER_TREE }), { numRuns: 1, seed: 11 })[0] as EntryClaims[];
    // No worker answers four trees within a millisecond: the call must not wait for it.
    expect(forms(await signOnWorker(cs, key, batch, 1))).toEqual(await expected(signEntries(cs, key, batch)));
    expect(signingThreadState()).toBe("stopped");
    await ready();
    expect(forms(await signOffThread(cs, key, batch))).toEqual(await expected(signEntries(cs, key, batch)));
  }, 90_000);
});
