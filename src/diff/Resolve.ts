/**
 * Resolution: from the assignments that match one device to the deployments
 * it should run. Per deployment name the highest priority wins; several
 * different specs at that priority are a conflict and give no entry.
 *
 * Resolution depends only on *which* assignments match, so the diff caches it
 * per match signature: devices that match the same assignments share one.
 */
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../algebra/Device.ts";
import { compile } from "../selectors/Selector.ts";
import type { World } from "../world/World.ts";
import { deploymentIdentity, specHash, type Deployment } from "../algebra/Deployment.ts";
import type { DeploymentName } from "../algebra/Name.ts";
import type { Assignment } from "../world/Assignment.ts";
import { printSelector } from "../selectors/Print.ts";
import { OrdCandidate, type AssignedBy, type Candidate } from "./Plan.ts";
import { clashes, type Clash } from "./Clash.ts";

export interface Resolved {
  readonly name: DeploymentName;
  readonly deployment: Deployment;
  readonly specHash: string;
  readonly by: AssignedBy;
}

export interface Shadowed {
  readonly assignment: string;
  readonly deployment: DeploymentName;
  readonly priority: number;
  /** The assignment that wins over it. */
  readonly by: string;
}

export interface UnresolvedConflict {
  readonly deployment: DeploymentName;
  readonly priority: number;
  readonly candidates: ReadonlyArray<Candidate>;
}

export interface Resolution {
  /** In deployment-name order. */
  readonly entries: ReadonlyArray<Resolved>;
  readonly byName: ReadonlyMap<DeploymentName, Resolved>;
  readonly conflicts: ReadonlyArray<UnresolvedConflict>;
  /** Names in conflict: the diff must not touch their published entries. */
  readonly conflicted: ReadonlySet<DeploymentName>;
  readonly shadowed: ReadonlyArray<Shadowed>;
  /** Host ports and mount paths the entries claim twice (computed once per resolution, not per device). */
  readonly clashes: ReadonlyArray<Clash>;
}

const selectorText = new WeakMap<Assignment, string>();
/** The assignment as a plan cites it (printing once per assignment, not per device). */
export const assignedBy = (a: Assignment): AssignedBy => {
  let s = selectorText.get(a);
  if (s === undefined) selectorText.set(a, (s = printSelector(a.selector)));
  return { assignment: a.name, selector: s, priority: a.priority };
};

interface Offer {
  readonly assignment: Assignment;
  readonly deployment: Deployment;
  readonly hash: string;
}

const byString = S.Ord.compare;

/** `matching` must be in canonical (`OrdAssignment`) order, as a World keeps them. */
export const resolve = (matching: ReadonlyArray<Assignment>): Resolution => {
  const offers = new Map<DeploymentName, Offer[]>();
  for (const a of matching)
    for (const d of a.deployments) {
      const list = offers.get(d.name);
      const o = { assignment: a, deployment: d, hash: specHash(d) };
      if (list === undefined) offers.set(d.name, [o]);
      else list.push(o);
    }
  const entries: Resolved[] = [];
  const conflicts: UnresolvedConflict[] = [];
  const shadowed: Shadowed[] = [];
  for (const name of [...offers.keys()].sort(byString)) {
    const list = offers.get(name) as Offer[];
    const top = Math.max(...list.map((o) => o.assignment.priority));
    const winners = list.filter((o) => o.assignment.priority === top);
    // Same spec under two rollout policies is a conflict too: which policy would deliver it?
    const hashes = new Set(winners.map((o) => deploymentIdentity(o.deployment)));
    const first = winners[0] as Offer;
    for (const o of list)
      if (o.assignment.priority < top)
        shadowed.push({ assignment: o.assignment.name, deployment: name, priority: o.assignment.priority, by: first.assignment.name });
    if (hashes.size > 1) {
      const candidates = winners.map((o) => ({ assignment: o.assignment.name, specHash: o.hash })).sort(OrdCandidate.compare);
      conflicts.push({ deployment: name, priority: top, candidates });
    } else {
      entries.push({ name, deployment: first.deployment, specHash: first.hash, by: assignedBy(first.assignment) });
    }
  }
  return {
    entries,
    byName: new Map(entries.map((e) => [e.name, e])),
    conflicts,
    conflicted: new Set(conflicts.map((c) => c.deployment)),
    shadowed,
    clashes: clashes(entries.map((e) => e.deployment)),
  };
};

/**
 * Per-device resolution for a World, cached by match signature (which
 * assignments match): devices matching the same assignments share one result.
 */
export const resolver = (world: World): ((d: Device) => Resolution) => {
  const assignments = world.assignments;
  const predicates = assignments.map((a) => compile(a.selector));
  const n = predicates.length;
  const cache = new Map<number | string, Resolution>();
  return (d) => {
    let key: number | string;
    if (n <= 30) {
      let mask = 0;
      for (let i = 0; i < n; i++) if ((predicates[i] as (d: Device) => boolean)(d)) mask |= 1 << i;
      key = mask;
    } else {
      key = predicates.map((p) => (p(d) ? "1" : "0")).join("");
    }
    let res = cache.get(key);
    if (res === undefined) {
      const k = key;
      res = resolve(assignments.filter((_, i) => (typeof k === "number" ? (k & (1 << i)) !== 0 : k[i] === "1")));
      cache.set(key, res);
    }
    return res;
  };
};
