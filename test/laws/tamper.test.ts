/**
 * Tamper on read: a published entry whose spec does not hash to its stated
 * hash (edited behind the control plane's back) is never trusted. Laws:
 * - the plan republishes exactly the tampered entries that are still
 *   assigned (an Update carrying `repair`), whatever hash they state;
 * - after applying that plan, the diff is empty (repairs converge);
 * - the fast diff equals the naive model on tampered realities.
 */
import { describe, expect } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import { applyPlan } from "../../src/diff/Apply.ts";
import { diff } from "../../src/diff/Diff.ts";
import { reality as makeReality, desiredEntries, observedEntries, type DesiredEntry, type Reality } from "../../src/diff/Reality.ts";
import { entryKey } from "../../src/algebra/Name.ts";
import { NOW, realityArb, worldArb } from "./arbitraries.ts";
import { naiveDiff } from "./model.ts";

/** Converges `r` to the World, then marks the entries picked by `pick` as tampered. */
const tamper = (r: Reality, pick: (e: DesiredEntry, i: number) => boolean): { readonly reality: Reality; readonly tampered: ReadonlySet<string> } => {
  const entries = [...desiredEntries(r)];
  const tampered = new Set<string>();
  const desired = entries.map((e, i) => {
    if (!pick(e, i)) return e;
    tampered.add(entryKey(e.device, e.deployment));
    return { ...e, tampered: "spec does not match its hash" };
  });
  return { reality: makeReality({ devices: [...r.devices.values()], desired, observed: [...observedEntries(r)], damaged: [...r.damaged] }), tampered };
};

const picks = fc.func(fc.boolean());

describe("tampered entries", () => {
  test.prop([worldArb, realityArb(), picks])("after convergence, the plan is exactly one repair per tampered entry, and applying it converges", (w, r0, pick) => {
    const converged = applyPlan(r0, diff(w, r0, { now: NOW }));
    const { reality: r, tampered } = tamper(converged, (e, i) => pick(entryKey(e.device, e.deployment), i));
    const plan = diff(w, r, { now: NOW });
    const repaired = new Set(plan.actions.map((a) => entryKey(a.device, a.deployment)));
    // Tampered entries of devices the diff leaves alone (conflicts) stay as they are.
    for (const a of plan.actions) {
      expect(a._tag).toBe("Update");
      expect(a._tag === "Update" && a.repair).toBe("spec does not match its hash");
      expect(tampered.has(entryKey(a.device, a.deployment))).toBe(true);
    }
    const skipped = new Set(plan.skipped.map((s) => s.device as string));
    for (const k of tampered) if (!skipped.has(k.split(".")[0] as string) && plan.conflicts.length === 0) expect(repaired.has(k)).toBe(true);
    expect(diff(w, applyPlan(r, plan), { now: NOW }).actions).toEqual([]);
  });

  test.prop([worldArb, realityArb({ damaged: true }), picks])("the fast diff equals the naive model on tampered realities", (w, r0, pick) => {
    const { reality: r } = tamper(r0, (e, i) => pick(entryKey(e.device, e.deployment), i));
    expect(isDeepStrictEqual([...diff(w, r, { now: NOW }).actions], [...naiveDiff(w, r, NOW).actions])).toBe(true);
  });
});
