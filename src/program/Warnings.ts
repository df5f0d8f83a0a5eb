/**
 * Warnings about a World that is valid but probably not what its author
 * meant, caught before it ships (`fleet validate`, `fleet plan`): a typo in a
 * selector (`evn=prod`) makes a deployment silently drop out of the plan.
 *
 * Judged against the devices the diff would evaluate (the declared fleet, or
 * the registered devices); with no known device there is nothing to judge
 * against and no warning is given.
 *
 * - `UnmatchedSelector`: an assignment whose selector matches no known device;
 * - `UnknownLabelKey`: a label key a selector reads that no known device has,
 *   with the nearest key that some device has (by edit distance), if close;
 * - `UnassignedDeployment`: a deployment that no known device resolves to (or
 *   is in conflict for).
 *
 * Pure; the result is in `OrdWorldWarning` order, so equal inputs give equal
 * lists.
 */
import { distance } from "fastest-levenshtein";
import * as O from "fp-ts/lib/Option.js";
import * as N from "fp-ts/lib/number.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../algebra/Device.ts";
import { OrdDeploymentName, type DeploymentName } from "../algebra/Name.ts";
import { resolver } from "../diff/Diff.ts";
import { printSelector } from "../selectors/Print.ts";
import { compile, labelKeys } from "../selectors/Selector.ts";
import type { World } from "../world/World.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type WorldWarning =
  | { readonly _tag: "UnmatchedSelector"; readonly assignment: string; readonly selector: string }
  | { readonly _tag: "UnknownLabelKey"; readonly assignment: string; readonly key: string; readonly didYouMean: O.Option<string> }
  | { readonly _tag: "UnassignedDeployment"; readonly deployment: DeploymentName };

export const matchWorldWarning =
  <A>(cases: { readonly [K in WorldWarning["_tag"]]: (w: Extract<WorldWarning, { readonly _tag: K }>) => A }) =>
  (w: WorldWarning): A => {
    switch (w._tag) {
      case "UnmatchedSelector":
        return cases.UnmatchedSelector(w);
      case "UnknownLabelKey":
        return cases.UnknownLabelKey(w);
      case "UnassignedDeployment":
        return cases.UnassignedDeployment(w);
    }
  };

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

const TAG_RANK: { readonly [K in WorldWarning["_tag"]]: number } = { UnknownLabelKey: 0, UnmatchedSelector: 1, UnassignedDeployment: 2 };

/** Typos first (they explain the rest), then by assignment or deployment name, then key. */
export const OrdWorldWarning: Ord.Ord<WorldWarning> = Ord.getMonoid<WorldWarning>().concat(
  Ord.contramap((w: WorldWarning) => TAG_RANK[w._tag])(N.Ord),
  Ord.contramap((w: WorldWarning) => (w._tag === "UnassignedDeployment" ? w.deployment : `${w.assignment}\u0000${w._tag === "UnknownLabelKey" ? w.key : ""}`))(S.Ord),
);

// -------------------------------------------------------------------------------------
// the check
// -------------------------------------------------------------------------------------

/** How far a key may be from an existing one to be suggested: typos, not other words. */
const MAX_SUGGESTION_DISTANCE = 2;

/** The existing key nearest to `key`, if it is close enough to be a typo of it (ties: the first in key order). */
export const nearestKey = (key: string, known: ReadonlyArray<string>): O.Option<string> => {
  let best: O.Option<string> = O.none;
  let bestDistance = Infinity;
  for (const k of [...known].sort(S.Ord.compare)) {
    const d = distance(key, k);
    if (d < bestDistance) {
      best = O.some(k);
      bestDistance = d;
    }
  }
  return bestDistance <= MAX_SUGGESTION_DISTANCE && bestDistance < key.length ? best : O.none;
};

/** The warnings for `world` against the devices it will be evaluated on (see the module header). */
export const worldWarnings = (world: World, devices: ReadonlyArray<Device>): ReadonlyArray<WorldWarning> => {
  if (devices.length === 0) return [];
  const out: WorldWarning[] = [];
  const keys = new Set<string>();
  for (const d of devices) for (const k of Object.keys(d.labels)) keys.add(k);
  const knownKeys = [...keys];
  for (const a of world.assignments) {
    for (const key of labelKeys(a.selector))
      if (!keys.has(key)) out.push({ _tag: "UnknownLabelKey", assignment: a.name, key, didYouMean: nearestKey(key, knownKeys) });
    const p = compile(a.selector);
    if (!devices.some(p)) out.push({ _tag: "UnmatchedSelector", assignment: a.name, selector: printSelector(a.selector) });
  }
  const given = new Set<DeploymentName>();
  const resolve = resolver(world);
  // A deployment in conflict on a device is given to it (the conflict is reported on its own).
  for (const d of devices) {
    const r = resolve(d);
    for (const e of r.entries) given.add(e.name);
    for (const c of r.conflicts) given.add(c.deployment);
  }
  const named = new Set<DeploymentName>(world.assignments.flatMap((a) => a.deployments.map((d) => d.name)));
  for (const name of [...named].sort(OrdDeploymentName.compare)) if (!given.has(name)) out.push({ _tag: "UnassignedDeployment", deployment: name });
  return out.sort(OrdWorldWarning.compare);
};

/** One line, for people. */
export const formatWorldWarning: (w: WorldWarning) => string = matchWorldWarning({
  UnknownLabelKey: (w) =>
    `assignment ${w.assignment} reads label key ${JSON.stringify(w.key)}, which no device has${O.isSome(w.didYouMean) ? ` (did you mean ${JSON.stringify(w.didYouMean.value)}?)` : ""}`,
  UnmatchedSelector: (w) => `assignment ${w.assignment} selects no device${w.assignment !== w.selector ? ` (selector ${w.selector})` : ""}`,
  UnassignedDeployment: (w) => `deployment ${w.deployment} is given to no device`,
});
