/**
 * The `FleetDeployment` custom resource: one object per deployment name of
 * the World, named by it, labelled `app.kubernetes.io/managed-by=fleet-algebra`.
 *
 * - `spec.variants`: one per assignment that gives the deployment (its id,
 *   name, printed selector, LabelSelector when one exists, priority, spec
 *   hash, score, rollout), highest priority first. On each device the
 *   highest matching priority wins, exactly as in the World.
 * - `spec.selector` / `spec.labelSelector`: the union of the variants'
 *   selectors (where the deployment goes at all); `spec.specHash`, `score`,
 *   `rollout` when every variant runs the same spec (the usual case).
 * - `status`: the counts of `status()` (src/diff/Status.ts) plus `published`,
 *   and `rollout` for a deployment rolled out in waves (docs/rollouts.md).
 *
 * Law: `assignmentsOf(decode(specOf(world)))` resolves, deployment by
 * deployment, exactly as the World does (a variant is an assignment cut down
 * to one deployment; resolution is per deployment name), so status can be
 * recomputed from the cluster alone after an apply.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as N from "fp-ts/lib/number.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { DeploymentCodec, specHash, type Deployment } from "../../algebra/Deployment.ts";
import { decodeProblems, formatProblem, type DecodeProblem } from "../../algebra/DecodeError.ts";
import { DeploymentName } from "../../algebra/Name.ts";
import { waveCounts, type RolloutProgress } from "../../diff/Plan.ts";
import type { FleetStatus } from "../../diff/Status.ts";
import { toLabelSelector, type LabelSelector } from "../../selectors/LabelSelector.ts";
import { parseSelector, type SelectorError } from "../../selectors/Parse.ts";
import { printSelector } from "../../selectors/Print.ts";
import { or, type Selector } from "../../selectors/Selector.ts";
import { assign, type Assignment } from "../../world/Assignment.ts";
import type { World } from "../../world/World.ts";
import { API_VERSION, FLEET_DEPLOYMENT } from "./Crds.ts";

export const MANAGED_BY = "app.kubernetes.io/managed-by";
export const MANAGED_BY_SELECTOR = `${MANAGED_BY}=fleet-algebra`;

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface Variant {
  readonly id: string;
  readonly assignment: string;
  readonly selector: Selector;
  readonly priority: number;
  readonly deployment: Deployment;
}

export interface FleetDeploymentSpec {
  readonly name: DeploymentName;
  /** Highest priority first, then by assignment name and id. */
  readonly variants: ReadonlyArray<Variant>;
}

export const OrdVariant: Ord.Ord<Variant> = concatAll(Ord.getMonoid<Variant>())([
  Ord.contramap((v: Variant) => v.priority)(Ord.reverse(N.Ord)),
  Ord.contramap((v: Variant) => v.assignment)(S.Ord),
  Ord.contramap((v: Variant) => v.id)(S.Ord),
]);
const compareVariants = OrdVariant.compare;

/** One FleetDeployment per deployment name of the World, in name order. */
export const fleetDeploymentsOf = (world: World): ReadonlyArray<FleetDeploymentSpec> => {
  const byName = new Map<DeploymentName, Variant[]>();
  for (const a of world.assignments)
    for (const d of a.deployments) {
      const v: Variant = { id: a.id, assignment: a.name, selector: a.selector, priority: a.priority, deployment: d };
      byName.set(d.name, [...(byName.get(d.name) ?? []), v]);
    }
  return [...byName.keys()].sort(S.Ord.compare).map((name) => ({ name, variants: (byName.get(name) as Variant[]).sort(compareVariants) }));
};

/** The variants as assignments, each cut down to its one deployment. */
export const assignmentsOf = (fds: ReadonlyArray<FleetDeploymentSpec>): ReadonlyArray<Assignment> =>
  fds.flatMap((fd) => fd.variants.map((v) => assign(v.selector, v.deployment, { priority: v.priority, name: v.assignment })));

// -------------------------------------------------------------------------------------
// encoding
// -------------------------------------------------------------------------------------

const labelSelectorField = (s: Selector): { readonly labelSelector?: LabelSelector } => {
  const ls = toLabelSelector(s);
  return O.isSome(ls) ? { labelSelector: ls.value } : {};
};

/** The server-side apply body of a FleetDeployment's spec. */
export const specConfig = (fd: FleetDeploymentSpec, namespace: string): object => {
  const printed = new Map<string, Selector>();
  for (const v of fd.variants) printed.set(printSelector(v.selector), v.selector);
  const union = or(...[...printed.keys()].sort(S.Ord.compare).map((k) => printed.get(k) as Selector));
  const hashes = new Set(fd.variants.map((v) => specHash(v.deployment)));
  const only = fd.variants[0];
  return {
    apiVersion: API_VERSION,
    kind: FLEET_DEPLOYMENT.kind,
    metadata: { name: fd.name, namespace, labels: { [MANAGED_BY]: "fleet-algebra" } },
    spec: {
      selector: printSelector(union),
      ...labelSelectorField(union),
      ...(hashes.size === 1 && only !== undefined
        ? { specHash: specHash(only.deployment), score: only.deployment.score, rollout: only.deployment.rollout }
        : {}),
      variants: fd.variants.map((v) => ({
        id: v.id,
        assignment: v.assignment,
        selector: printSelector(v.selector),
        ...labelSelectorField(v.selector),
        priority: v.priority,
        specHash: specHash(v.deployment),
        score: v.deployment.score,
        rollout: v.deployment.rollout,
      })),
    },
  };
};

/** The server-side apply body of a FleetDeployment's status, from the World's status. */
export const statusConfig = (name: DeploymentName, namespace: string, fleet: FleetStatus): object => {
  const s = fleet.deployments.find((d) => d.deployment === name);
  // One rollout per deployment name at a time in practice (one target spec); with several variants, the first in target order.
  const rollout = fleet.rollouts?.find((r) => r.deployment === name);
  let published = 0;
  for (const d of fleet.devices) for (const r of d.deployments) if (r.deployment === name && r.publishedHash === r.specHash) published++;
  return {
    apiVersion: API_VERSION,
    kind: FLEET_DEPLOYMENT.kind,
    metadata: { name, namespace },
    status: {
      matched: s?.matched ?? 0,
      published,
      succeeded: s?.succeeded ?? 0,
      failed: s?.failed ?? 0,
      pending: s?.pending ?? 0,
      offline: s?.offline ?? 0,
      ...(s?.lastError !== undefined ? { lastError: { device: s.lastError.device, error: s.lastError.error, at: s.lastError.at.toISOString() } } : {}),
      ...(rollout !== undefined ? { rollout: rolloutStatus(rollout) } : {}),
    },
  };
};

/** A staged rollout as `status.rollout` (Crds.ts): the state, `wave` as "2/4" for the printer column, each wave's counts and gate, the budget. */
export const rolloutStatus = (r: RolloutProgress): object => ({
  state: r.state,
  target: r.target,
  wave: `${r.wave + 1}/${r.waves.length}`,
  waves: r.waves.map((w) => ({
    index: w.index,
    definition: w.definition,
    gate: w.gate,
    ...waveCounts(w),
    ...(w.openedAt !== undefined ? { openedAt: w.openedAt.toISOString() } : {}),
  })),
  ...(r.budget !== undefined ? { budget: r.budget } : {}),
  ...(r.failure !== undefined ? { failure: { wave: r.failure.wave, reason: r.failure.reason } } : {}),
});

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

/** Why a FleetDeployment object (or its spec) could not be read; `variant` is the variant's id. */
export type FleetDeploymentError =
  | { readonly _tag: "NotAnObject"; readonly problems: ReadonlyArray<DecodeProblem> }
  | { readonly _tag: "BadName"; readonly name: string }
  | { readonly _tag: "BadSpec"; readonly problems: ReadonlyArray<DecodeProblem> }
  | { readonly _tag: "BadSelector"; readonly variant: string; readonly error: SelectorError }
  | { readonly _tag: "BadDeployment"; readonly variant: string; readonly problems: ReadonlyArray<DecodeProblem> }
  | { readonly _tag: "HashMismatch"; readonly variant: string };

/** A variant id as written in a path; quoted when it is not a plain token, so a message stays one line. */
const variantText = (id: string): string => (/^[\w.:-]+$/.test(id) ? id : JSON.stringify(id));

const problemsText = (ps: ReadonlyArray<DecodeProblem>): string => ps.map(formatProblem).join("; ");

/** One line for people. */
export const formatFleetDeploymentError = (e: FleetDeploymentError): string => {
  switch (e._tag) {
    case "NotAnObject":
      return `not an object: ${problemsText(e.problems)}`;
    case "BadName":
      return `name ${JSON.stringify(e.name)} is not a deployment name`;
    case "BadSpec":
      return problemsText(e.problems);
    case "BadSelector":
      return `spec.variants[id=${variantText(e.variant)}].selector: ${e.error.message} at column ${e.error.position + 1} of ${JSON.stringify(e.error.input)}`; // one line: a status problem, not a terminal
    case "BadDeployment":
      return `spec.variants[id=${variantText(e.variant)}]: ${problemsText(e.problems)}`;
    case "HashMismatch":
      return `spec.variants[id=${variantText(e.variant)}]: specHash does not match score and rollout`;
  }
};

export interface FleetDeploymentObject {
  readonly name: string;
  readonly resourceVersion: string;
  /** `Left` (why) when the spec does not decode; the caller reports it. */
  readonly spec: E.Either<FleetDeploymentError, FleetDeploymentSpec>;
}

const Envelope = t.type({ metadata: t.type({ name: t.string, resourceVersion: t.string }) });
const SpecWire = t.type({
  spec: t.type({
    variants: t.array(t.type({ id: t.string, assignment: t.string, selector: t.string, priority: t.Int, specHash: t.string, score: t.unknown, rollout: t.unknown })),
  }),
});

const decodeSpec = (name: string, u: unknown): E.Either<FleetDeploymentError, FleetDeploymentSpec> => {
  const n = DeploymentName.decode(name);
  if (E.isLeft(n)) return E.left({ _tag: "BadName", name });
  const w = SpecWire.decode(u);
  if (E.isLeft(w)) return E.left({ _tag: "BadSpec", problems: decodeProblems(w.left) });
  const variants: Variant[] = [];
  for (const v of w.right.spec.variants) {
    const sel = parseSelector(v.selector);
    if (E.isLeft(sel)) return E.left({ _tag: "BadSelector", variant: v.id, error: sel.left });
    const d = DeploymentCodec.decode({ name, score: v.score, rollout: v.rollout });
    if (E.isLeft(d)) return E.left({ _tag: "BadDeployment", variant: v.id, problems: decodeProblems(d.left) });
    if (specHash(d.right) !== v.specHash) return E.left({ _tag: "HashMismatch", variant: v.id });
    variants.push({ id: v.id, assignment: v.assignment, selector: sel.right, priority: v.priority, deployment: d.right });
  }
  return E.right({ name: n.right, variants: variants.sort(compareVariants) });
};

export const decodeFleetDeployment = (u: unknown): E.Either<FleetDeploymentError, FleetDeploymentObject> => {
  const env = Envelope.decode(u);
  if (E.isLeft(env)) return E.left({ _tag: "NotAnObject", problems: decodeProblems(env.left) });
  const { name, resourceVersion } = env.right.metadata;
  return E.right({ name, resourceVersion, spec: decodeSpec(name, u) });
};
