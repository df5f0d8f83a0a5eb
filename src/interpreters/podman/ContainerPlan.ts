/**
 * The diff one level down: from the deployments a device must run and the
 * managed containers it has, the container steps that make them match. Pure.
 *
 * Laws (test/podman/container-plan.test.ts):
 * - necessity: a container whose deployment is desired with the same spec
 *   hash, under its canonical name, and that is running is never removed or
 *   started (changing nothing restarts nothing);
 * - soundness: every container of a deployment that is not desired, or whose
 *   spec hash differs, is removed;
 * - completeness: every service of every desired deployment ends up with
 *   exactly one container (kept or created);
 * - convergence: planning against the result of the plan gives no steps;
 * - order: removals first (they free names and ports), then per deployment
 *   by name, per service by name: creates and starts.
 *
 * It sees only managed containers (the listing filters by label), so it can
 * never act on a container this project did not make.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import type { Deployment, Service } from "../../algebra/Deployment.ts";
import { specHash } from "../../algebra/Deployment.ts";
import { containerName } from "./ContainerSpec.ts";
import type { ManagedContainer } from "./Containers.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type RemoveReason = "Unassigned" | "Replaced" | "Duplicate";

export type ContainerStep =
  | { readonly _tag: "Remove"; readonly container: ManagedContainer; readonly reason: RemoveReason }
  | { readonly _tag: "Create"; readonly deployment: Deployment; readonly service: Service }
  | { readonly _tag: "Start"; readonly deployment: Deployment; readonly service: Service; readonly container: ManagedContainer };

export const matchStep =
  <R>(cases: { readonly [T in ContainerStep["_tag"]]: (s: Extract<ContainerStep, { _tag: T }>) => R }) =>
  (s: ContainerStep): R =>
    (cases[s._tag] as (s: ContainerStep) => R)(s);

/** States in which a container was made but its process never ran (or a start failed). */
const NOT_STARTED = new Set(["created", "configured", "initialized"]);
/** States after the process ended. */
export const ENDED = new Set(["exited", "stopped"]);

// -------------------------------------------------------------------------------------
// planning
// -------------------------------------------------------------------------------------

/** Removes in container order: deployment, service, id. */
const OrdRemove: Ord.Ord<ContainerStep> = Ord.contramap((s: ContainerStep) =>
  s._tag === "Remove" ? `${s.container.deployment}\u0000${s.container.service}\u0000${s.container.id}` : "",
)(S.Ord);
const byName = Ord.contramap((x: { readonly name: string }) => x.name)(S.Ord).compare;

/**
 * Whether a kept container needs a start: never started, or ended under
 * `restart: always` (podman restarts it too; after a reboot nothing else would).
 */
const needsStart = (c: ManagedContainer, s: Service): boolean =>
  NOT_STARTED.has(c.state) || (ENDED.has(c.state) && s.restart === "always");

export const planContainers = (
  desired: ReadonlyArray<Deployment>,
  containers: ReadonlyArray<ManagedContainer>,
): ReadonlyArray<ContainerStep> => {
  // One spec per name: the caller's desired set is keyed by name; if it is not, the first in name order wins.
  const wanted = new Map<string, Deployment>();
  for (const d of [...desired].sort(byName)) if (!wanted.has(d.name)) wanted.set(d.name, d);

  const removes: ContainerStep[] = [];
  const kept = new Map<string, ManagedContainer>(); // `${deployment}/${service}`
  for (const c of containers) {
    const d = wanted.get(c.deployment);
    if (d === undefined) {
      removes.push({ _tag: "Remove", container: c, reason: "Unassigned" });
      continue;
    }
    const inSpec = d.score.services.some((s) => s.name === c.service);
    if (c.specHash !== specHash(d) || !inSpec) {
      removes.push({ _tag: "Remove", container: c, reason: "Replaced" });
      continue;
    }
    // Only the canonically named container counts; a labelled look-alike is a duplicate
    // (podman names are unique, so two canonical ones cannot exist).
    const key = `${c.deployment}/${c.service}`;
    if (c.name === containerName(c.deployment, c.service) && !kept.has(key)) kept.set(key, c);
    else removes.push({ _tag: "Remove", container: c, reason: "Duplicate" });
  }

  const rest: ContainerStep[] = [];
  for (const d of wanted.values()) {
    for (const s of d.score.services) {
      const c = kept.get(`${d.name}/${s.name}`);
      if (c === undefined) rest.push({ _tag: "Create", deployment: d, service: s });
      else if (needsStart(c, s)) rest.push({ _tag: "Start", deployment: d, service: s, container: c });
    }
  }
  removes.sort(OrdRemove.compare);
  return [...removes, ...rest];
};
