/**
 * Property tests run with a fixed seed so CI is reproducible; fast-check
 * prints the seed and the counterexample path on failure. Set FC_SEED to
 * explore other seeds locally, FC_RUNS to run more cases.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { PackedEntries } from "../../src/interpreters/local/PackedEntries.ts";
import { SortedMap } from "../../src/algebra/SortedMap.ts";
import { EditedMap } from "../../src/algebra/EditedMap.ts";

const seed = Number(process.env["FC_SEED"] ?? 20261123);
const numRuns = Number(process.env["FC_RUNS"] ?? 100);
fc.configureGlobal({ seed, numRuns, endOnFailure: true });

// A local state's maps are `PackedEntries` and `SortedMap`s (ReadonlyMaps made from the file's columns), an
// applied edit's outer map an `EditedMap`, other backends' are `Map`s: as Reality they are equal when they
// hold equal entries.
const packed = (m: unknown): boolean => m instanceof PackedEntries || m instanceof SortedMap || m instanceof EditedMap;
expect.addEqualityTesters([
  function readonlyMaps(a: unknown, b: unknown) {
    if (!packed(a) && !packed(b)) return undefined;
    const asMap = (m: unknown): unknown => (packed(m) ? new Map(m as ReadonlyMap<unknown, unknown>) : m);
    return this.equals(asMap(a), asMap(b));
  },
]);
