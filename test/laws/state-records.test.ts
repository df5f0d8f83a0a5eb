/**
 * The local state file's line decoder finds every second record of a device,
 * whatever order the lines come in: lines written by fleet come in id order
 * (the decoder then keeps no set of ids), hand-edited or concatenated ones
 * may not, and a repeat must never be silently collapsed either way.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeState, STATE_FORMAT, STATE_VERSION } from "../../src/interpreters/local/StateRecords.ts";

const header = JSON.stringify({ format: STATE_FORMAT, version: STATE_VERSION, lineage: "law", serial: 1, revision: 0, specs: [] });
const file = (ids: ReadonlyArray<string>): string =>
  [header, ...ids.map((id) => `${id}\t{"labels":{},"arch":"x86_64"}\t\t\t\t\t`), JSON.stringify({ end: STATE_FORMAT, devices: ids.length })].join("\n") + "\n";

/** The naive model: a line is a second record when its id came before. */
const repeats = (ids: ReadonlyArray<string>): ReadonlyArray<string> => ids.filter((id, i) => ids.indexOf(id) < i);

describe("local state lines", () => {
  it("a second record is reported for every repeated id, in any line order, and every id is read", () =>
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b", "c", "d", "e", "f"), { maxLength: 14 }), fc.boolean(), (raw, ordered) => {
        // Ordered runs exercise the no-set path up to the first repeat; unordered ones the set.
        const ids = ordered ? [...raw].sort() : raw;
        const d = decodeState(file(ids));
        if (d._tag !== "Ok") throw new Error(d.reason);
        expect(d.problems.map((p) => p.key)).toEqual(repeats(ids));
        expect([...d.state.reality.devices.keys()].sort()).toEqual([...new Set(ids)].sort());
      }),
    ));
});
