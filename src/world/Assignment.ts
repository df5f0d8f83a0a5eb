/**
 * An assignment gives the devices a selector matches a set of deployments,
 * at a priority. When two assignments give one device different specs under
 * one deployment name, the higher priority wins (as in layered deployments);
 * equal priorities are a conflict, reported, never resolved silently.
 */
import * as E from "fp-ts/lib/Either.js";
import * as N from "fp-ts/lib/number.js";
import type { Ord } from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { contramap, getMonoid, reverse } from "fp-ts/lib/Ord.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import { OrdDeploymentByName, deploymentIdentity, type Deployment } from "../algebra/Deployment.ts";
import { contentHash } from "../algebra/Canonical.ts";
import type { Selector } from "../selectors/Selector.ts";
import { InvalidSelectorError } from "../selectors/Selector.ts";
import { printSelector } from "../selectors/Print.ts";
import { parseSelector, formatSelectorError, type SelectorError } from "../selectors/Parse.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface Assignment {
  readonly _tag: "Assignment";
  readonly selector: Selector;
  /** In name order; names are unique within one assignment. */
  readonly deployments: ReadonlyArray<Deployment>;
  readonly priority: number;
  /** A human name for plans and explanations; defaults to the printed selector. */
  readonly name: string;
  /** Content hash of selector, deployments, priority and name: identity under merging. */
  readonly id: string;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

export interface AssignOptions {
  readonly priority?: number;
  readonly name?: string;
}

export class InvalidAssignmentError extends Error {
  override readonly name = "InvalidAssignmentError";
}

/** Parses a selector for a fleet file, throwing a readable, positioned error. */
export const selector = (text: string): Selector =>
  E.getOrElse<SelectorError, Selector>((e) => {
    throw new InvalidSelectorError(formatSelectorError(e));
  })(parseSelector(text));

/**
 * `assign(and(label("env","prod"), arch("aarch64")), [web, metrics], { priority: 10 })`.
 * The selector may also be given in selector syntax: `assign("env=prod, @arch=aarch64", web)`.
 */
export const assign = (
  sel: Selector | string,
  deployments: Deployment | ReadonlyArray<Deployment>,
  opts: AssignOptions = {},
): Assignment => {
  const s = typeof sel === "string" ? selector(sel) : sel;
  const list = Array.isArray(deployments) ? (deployments as ReadonlyArray<Deployment>) : [deployments as Deployment];
  const priority = opts.priority ?? 0;
  if (!Number.isSafeInteger(priority)) throw new InvalidAssignmentError(`priority must be an integer, got ${String(priority)}`);
  const byName = new Map<string, Deployment>();
  for (const d of list) {
    const prev = byName.get(d.name);
    if (prev !== undefined && deploymentIdentity(prev) !== deploymentIdentity(d))
      throw new InvalidAssignmentError(`assignment gives deployment ${JSON.stringify(d.name)} twice with different specs`);
    byName.set(d.name, d);
  }
  const sorted = [...byName.values()].sort(OrdDeploymentByName.compare);
  const printed = printSelector(s);
  const name = opts.name ?? printed;
  const id = contentHash({ selector: printed, deployments: sorted.map(deploymentIdentity), priority, name });
  return Object.freeze({ _tag: "Assignment", selector: s, deployments: Object.freeze(sorted), priority, name, id });
};

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

export const OrdAssignment: Ord<Assignment> = contramap((a: Assignment) => a.id)(S.Ord);

/** The order an explanation lists assignments in: highest priority first, then by name (then id). */
export const OrdAssignmentByPriority: Ord<Assignment> = concatAll(getMonoid<Assignment>())([
  contramap((a: Assignment) => a.priority)(reverse(N.Ord)),
  contramap((a: Assignment) => a.name)(S.Ord),
  OrdAssignment,
]);
