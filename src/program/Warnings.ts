/**
 * Warnings about a World that is valid but probably not what its author
 * meant, caught before it ships (`fleet validate`, `fleet plan`): a typo in a
 * selector (`evn=prod`) makes a deployment silently drop out of the plan.
 *
 * Judged against the devices the diff would evaluate (the declared fleet, or
 * the registered devices); with no known device there is nothing to judge
 * against and no warning is given.
 *
 * - `UnmatchedSelector`: an assignment whose selector matches no known device
 *   (except `@none`, which says so on purpose);
 * - `UnknownLabelKey`: a label key a selector reads that no known device has,
 *   with the nearest key that some device has (by edit distance), if close;
 * - `UnassignedDeployment`: a deployment that no known device gets (a name in
 *   conflict on a device counts as given: the conflict is reported).
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

/**
 * The warnings for `world` against the devices it will be evaluated on (see
 * the module header). An assignment is tested only until a device matches
 * it, so the cost is one pass over the devices times the assignments that
 * match none (usually none), not a second diff. A deployment is given to a
 * device exactly when some assignment giving its name matches the device
 * (the name then resolves to a winner, or to a conflict reported elsewhere).
 */
export const worldWarnings = (world: World, devices: ReadonlyArray<Device>): ReadonlyArray<WorldWarning> => {
  if (devices.length === 0) return [];
  const out: WorldWarning[] = [];
  // Only the keys selectors read are looked for, each until a device has it; every key devices have is gathered only when one is missing (for suggestions).
  let missing = [...new Set(world.assignments.flatMap((a) => labelKeys(a.selector)))];
  for (const d of devices) {
    if (missing.length === 0) break;
    if (missing.some((k) => d.labels[k] !== undefined)) missing = missing.filter((k) => d.labels[k] === undefined);
  }
  if (missing.length > 0) {
    const keys = new Set<string>();
    for (const d of devices) for (const k in d.labels) keys.add(k);
    const knownKeys = [...keys];
    const unknown = new Set(missing);
    for (const a of world.assignments)
      for (const key of labelKeys(a.selector))
        if (unknown.has(key)) out.push({ _tag: "UnknownLabelKey", assignment: a.name, key, didYouMean: nearestKey(key, knownKeys) });
  }
  let unmatched = world.assignments.map((a) => ({ a, p: compile(a.selector) }));
  for (const d of devices) {
    if (unmatched.length === 0) break;
    if (unmatched.some((u) => u.p(d))) unmatched = unmatched.filter((u) => !u.p(d));
  }
  const never = new Set(unmatched.map((u) => u.a));
  const given = new Set<DeploymentName>();
  for (const a of world.assignments) if (!never.has(a)) for (const d of a.deployments) given.add(d.name);
  // A selector that is `@none` (none, or an empty id list, e.g. a function export's canaries of an empty inventory) selects nothing on purpose: not a typo.
  for (const u of unmatched) {
    const selector = printSelector(u.a.selector);
    if (selector !== "@none") out.push({ _tag: "UnmatchedSelector", assignment: u.a.name, selector });
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
