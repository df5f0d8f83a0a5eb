/**
 * The dashboard's follow loop as a pure state machine (src/cli/dashboard/Live.ts):
 * laws over random sequences of reads, one test per law.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { initialLive, step, type LiveEffect, type LiveEvent, type LiveState } from "../../src/cli/dashboard/Live.ts";

const eventArb: fc.Arbitrary<LiveEvent> = fc.oneof(
  fc.constantFrom("d1", "d2", "d3").map((digest): LiveEvent => ({ _tag: "Read", digest })),
  fc.constantFrom("timeout", "refused").map((message): LiveEvent => ({ _tag: "ReadFailed", message })),
);

/** Every intermediate state and the effects of each step. */
const runAll = (events: ReadonlyArray<LiveEvent>): ReadonlyArray<{ readonly before: LiveState; readonly event: LiveEvent; readonly after: LiveState; readonly effects: ReadonlyArray<LiveEffect> }> => {
  let s = initialLive;
  return events.map((event) => {
    const [after, effects] = step(s, event);
    const r = { before: s, event, after, effects };
    s = after;
    return r;
  });
};

describe("Live.step", () => {
  it("a read with the digest already shown, and no error showing, publishes nothing", () =>
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 20 }), (events) =>
        runAll(events).every(({ before, event, effects }) => !(event._tag === "Read" && event.digest === before.digest && before.error === undefined) || effects.length === 0),
      ),
    ));

  it("a changed digest, a new error and a recovery each publish exactly once, one version up", () =>
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 20 }), (events) =>
        runAll(events).every(({ before, event, after, effects }) => {
          const news =
            event._tag === "Read" ? event.digest !== before.digest || before.error !== undefined : event.message !== before.error;
          return news ? effects.length === 1 && effects[0]?.version === before.version + 1 && after.version === before.version + 1 : effects.length === 0 && after === before;
        }),
      ),
    ));

  it("versions never decrease, and the published version is the state's", () =>
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 20 }), (events) =>
        runAll(events).every(({ before, after, effects }) => after.version >= before.version && effects.every((e) => e.version === after.version)),
      ),
    ));

  it("a failed read keeps the last good digest (the page keeps its data)", () => {
    const [s1] = step(initialLive, { _tag: "Read", digest: "d1" });
    const [s2, e2] = step(s1, { _tag: "ReadFailed", message: "refused" });
    expect(s2).toEqual({ version: 2, digest: "d1", error: "refused" });
    expect(e2).toEqual([{ _tag: "Publish", version: 2 }]);
    const [s3, e3] = step(s2, { _tag: "Read", digest: "d1" });
    expect(s3).toEqual({ version: 3, digest: "d1", error: undefined });
    expect(e3).toHaveLength(1);
  });
});
