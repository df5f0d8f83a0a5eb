/**
 * The ordered index (src/diff/OrderedIndex.ts) against a naive model, with
 * chunks small enough that inserts split them and removes empty them: after
 * any sequence of `set` and `remove`, its values are the model's, in key
 * order.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as S from "fp-ts/lib/string.js";
import { orderedIndex } from "../../src/diff/OrderedIndex.ts";

interface Entry {
  readonly key: string;
  readonly n: number;
}

const keyArb = fc.string({ maxLength: 3, unit: fc.constantFrom("a", "b", "c", "d") });
const opArb = fc.oneof(
  fc.record({ set: fc.record({ key: keyArb, n: fc.nat(9) }) }),
  fc.record({ remove: keyArb }),
);

describe("ordered index", () => {
  it("equals a sorted array of the last value per key, whatever the chunk size", () =>
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ key: keyArb, n: fc.nat(9) }), { selector: (e) => e.key, maxLength: 20 }),
        fc.array(opArb, { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        (initial, ops, chunkSize) => {
          const sorted = [...initial].sort((a, b) => S.Ord.compare(a.key, b.key));
          const index = orderedIndex(S.Ord, (e: Entry) => e.key, sorted, chunkSize);
          const model = new Map(sorted.map((e) => [e.key, e]));
          for (const op of ops) {
            if ("set" in op) {
              index.set(op.set);
              model.set(op.set.key, op.set);
            } else {
              index.remove(op.remove);
              model.delete(op.remove);
            }
            const want = [...model.values()].sort((a, b) => S.Ord.compare(a.key, b.key));
            expect([...index.values()]).toEqual(want);
            expect(index.size()).toBe(want.length);
          }
        },
      ),
      { numRuns: 300 },
    ));
});
