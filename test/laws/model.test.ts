/**
 * The fast diff (Targets, the cached resolver, planDevice, the removed-device
 * scan) equals the naive model of test/laws/model.ts, action for action, on
 * random inputs with every kind of conflict and dirty edge.
 */
import { describe, it } from "vitest";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { diff } from "../../src/diff/Diff.ts";
import { matchConflict, type Conflict, type Plan } from "../../src/diff/Plan.ts";
import type { Reality } from "../../src/diff/Reality.ts";
import type { World } from "../../src/world/World.ts";
import { clashyRealityArb, clashyWorldArb, NOW, realityArb, worldArb } from "./arbitraries.ts";
import { naiveDiff } from "./model.ts";

const conflictKey = (c: Conflict): string =>
  `${c.device} ${c._tag}${matchConflict({
    DeviceConflict: () => "",
    DeploymentConflict: (c) => ` ${c.deployment}`,
    HostPortConflict: (c) => ` ${c.protocol}/${c.hostPort}`,
    MountConflict: (c) => ` ${c.deployment}/${c.service}/${c.target}`,
  })(c)}`;

const sameAsModel = (w: World, r: Reality): boolean => {
  const fast: Plan = diff(w, r, { now: NOW });
  const naive = naiveDiff(w, r, NOW);
  const ok =
    isDeepStrictEqual([...fast.actions], [...naive.actions]) &&
    isDeepStrictEqual(fast.conflicts.map(conflictKey), [...naive.conflicts]) &&
    isDeepStrictEqual(fast.skipped.map((s) => s.device as string), [...naive.skipped]) &&
    isDeepStrictEqual(fast.summary, naive.summary);
  return ok;
};

describe("the fast diff equals the naive model", () => {
  it("on worlds with conflicts, redeclared devices and clashing ports and mounts", () =>
    fc.assert(fc.property(clashyWorldArb, clashyRealityArb, sameAsModel), { numRuns: 200 }));

  it("on the diff laws' own inputs", () => fc.assert(fc.property(worldArb, realityArb({ damaged: true }), sameAsModel)));
});
