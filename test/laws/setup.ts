/**
 * Property tests run with a fixed seed so CI is reproducible; fast-check
 * prints the seed and the counterexample path on failure. Set FC_SEED to
 * explore other seeds locally, FC_RUNS to run more cases.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { PackedEntries } from "../../src/interpreters/local/PackedEntries.ts";

const seed = Number(process.env["FC_SEED"] ?? 20261123);
const numRuns = Number(process.env["FC_RUNS"] ?? 100);
fc.configureGlobal({ seed, numRuns, endOnFailure: true });

// A local state's desired entries are `PackedEntries` (a ReadonlyMap made from the file's columns),
// other backends' are `Map`s: as Reality they are equal when they hold equal entries in the same order.
expect.addEqualityTesters([
  function packedEntries(a: unknown, b: unknown) {
    if (!(a instanceof PackedEntries) && !(b instanceof PackedEntries)) return undefined;
    const asMap = (m: unknown): unknown => (m instanceof PackedEntries ? new Map(m) : m);
    return this.equals(asMap(a), asMap(b));
  },
]);
