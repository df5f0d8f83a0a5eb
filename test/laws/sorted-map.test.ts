/**
 * SortedMap (src/algebra/SortedMap.ts) answers exactly as a `Map` of the
 * same pairs: `get`, `has`, `size`, iteration and `forEach`, for lookups in
 * any order (its shortcut for the key after the last one found must never
 * answer for another key), values kept as columns or as an array.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mapOfColumns, SortedMap } from "../../src/algebra/SortedMap.ts";

const keysArb = fc.uniqueArray(fc.string({ unit: fc.constantFrom("a", "b", "c", "-", "0", "é"), maxLength: 4 }), { maxLength: 20 });

describe("SortedMap", () => {
  it("answers every lookup, in any order, as a Map of the same pairs", () =>
    fc.assert(
      fc.property(keysArb, fc.array(fc.string({ maxLength: 4 }), { maxLength: 40 }), (raw, extra) => {
        const keys = [...raw].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const values = keys.map((k, i) => `${k}#${i}`);
        const sorted = SortedMap.fromSorted(keys, values);
        if (sorted === undefined) throw new Error("sorted keys refused");
        const view = SortedMap.view(keys, (i) => values[i]);
        const model = new Map(keys.map((k, i) => [k, values[i]]));
        for (const m of [sorted, view]) {
          if (m === undefined) throw new Error("sorted keys refused");
          expect(m.size).toBe(model.size);
          expect([...m]).toEqual([...model]);
          expect([...m.keys()]).toEqual([...model.keys()]);
          expect([...m.values()]).toEqual([...model.values()]);
          const seen: unknown[] = [];
          m.forEach((v, k) => seen.push([k, v]));
          expect(seen).toEqual([...model]);
          // Lookups in key order (the shortcut), shuffled by the extra keys, and of absent keys.
          for (const k of [...keys, ...extra, ...keys.slice().reverse(), ...extra.flatMap((e) => [e, ...keys])]) {
            expect(m.get(k)).toBe(model.get(k));
            expect(m.has(k)).toBe(model.has(k));
          }
        }
      }),
    ));

  it("keys out of order are refused, and mapOfColumns gives a Map of the same pairs instead", () =>
    fc.assert(
      fc.property(keysArb.filter((ks) => ks.length > 1), (keys) => {
        const ordered = keys.every((k, i) => i === 0 || (keys[i - 1] as string) < k);
        fc.pre(!ordered);
        expect(SortedMap.view(keys, (i) => i)).toBeUndefined();
        const m = mapOfColumns(keys, (i) => i);
        expect(m).toBeInstanceOf(Map);
        expect([...m]).toEqual(keys.map((k, i) => [k, i]));
      }),
    ));
});
