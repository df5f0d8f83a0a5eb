/**
 * The text plan is rendered lazily (a million-device plan is written as it is
 * rendered): it must read the same whatever order the plan's actions come in,
 * and name each device once, with all its actions under it.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { diff } from "../../src/diff/Diff.ts";
import { planLines } from "../../src/cli/PlanText.ts";
import { paint } from "../../src/cli/Terminal.ts";
import { NOW, realityArb, worldArb } from "../laws/arbitraries.ts";

const text = (plan: Parameters<typeof planLines>[0], groupBy: "device" | "deployment"): string => [...planLines(plan, groupBy, paint(false))].join("\n");

describe("plan text", () => {
  it("is the same for a plan whose actions come in any order, and names each device once", () =>
    fc.assert(
      fc.property(worldArb, realityArb(), fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })), (w, r, keys) => {
        const plan = diff(w, r, { now: NOW });
        const order = plan.actions.map(() => keys.next().value as number);
        const shuffled = { ...plan, actions: plan.actions.map((a, i) => [order[i] as number, a] as const).sort((x, y) => x[0] - y[0]).map(([, a]) => a) };
        for (const groupBy of ["device", "deployment"] as const) expect(text(shuffled, groupBy)).toBe(text(plan, groupBy));
        const headers = [...planLines(shuffled, "device", paint(false))].filter((l) => l.startsWith("  # "));
        expect(headers.length).toBe(new Set(plan.actions.map((a) => a.device)).size);
      }),
    ));
});
