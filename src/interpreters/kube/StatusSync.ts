/**
 * Keeping FleetDeployment objects in step with the World and with Reality.
 *
 * - `syncFleetDeployments(world)`: one FleetDeployment per deployment name
 *   of the World (spec by server-side apply under the control plane's field
 *   manager, then status); the managed FleetDeployments the World no longer
 *   has are deleted (conditional on the resourceVersion listed).
 * - `refreshStatus()`: recomputes the status of the FleetDeployments already
 *   there from their own spec (see the law in FleetDeploymentObject.ts),
 *   over the registered devices; what an apply calls, having no World.
 *
 * Status is derived data with one writer: it is applied with `force`. Both
 * report per-object failures as problems and go on with the other objects;
 * an unreachable server is a `BackendUnavailableError`.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as E from "fp-ts/lib/Either.js";
import type { DeploymentName } from "../../algebra/Name.ts";
import type { Reality } from "../../diff/Reality.ts";
import { status, type FleetStatus } from "../../diff/Status.ts";
import { world as makeWorld, type World } from "../../world/World.ts";
import { BackendUnavailableError } from "../Interpreter.ts";
import { formatFailure, type Api } from "./Api.ts";
import { FLEET_DEPLOYMENT, crdName } from "./Crds.ts";
import { CONTROL_PLANE } from "./FieldOwners.ts";
import {
  MANAGED_BY_SELECTOR,
  assignmentsOf,
  decodeFleetDeployment,
  formatFleetDeploymentError,
  fleetDeploymentsOf,
  specConfig,
  statusConfig,
  type FleetDeploymentObject,
  type FleetDeploymentSpec,
} from "./FleetDeploymentObject.ts";

export interface StatusSyncResult {
  /** FleetDeployments written (spec and/or status). */
  readonly written: number;
  readonly deleted: number;
  /** One line per object that could not be read or written, in name order. */
  readonly problems: ReadonlyArray<string>;
}

export interface StatusContext {
  readonly api: Api;
  readonly namespace: string;
  readonly forceConflicts: boolean;
}

const listManaged = async (ctx: StatusContext): Promise<ReadonlyArray<FleetDeploymentObject>> => {
  const listed = await ctx.api.list(FLEET_DEPLOYMENT, ctx.namespace, { labelSelector: MANAGED_BY_SELECTOR });
  if (E.isLeft(listed)) {
    if (listed.left._tag === "NotFound") return [];
    throw new BackendUnavailableError(`listing ${crdName(FLEET_DEPLOYMENT)} in namespace ${ctx.namespace}: ${formatFailure(listed.left)}`);
  }
  const out: FleetDeploymentObject[] = [];
  for (const item of listed.right) {
    const d = decodeFleetDeployment(item);
    if (E.isRight(d)) out.push(d.right);
  }
  return out.sort(Ord.contramap((o: FleetDeploymentObject) => o.name)(S.Ord).compare);
};

const writeStatus = async (ctx: StatusContext, name: DeploymentName, fleet: FleetStatus, problems: string[]): Promise<boolean> => {
  const r = await ctx.api.applyStatus(FLEET_DEPLOYMENT, ctx.namespace, name, statusConfig(name, ctx.namespace, fleet), CONTROL_PLANE, true);
  if (E.isLeft(r)) problems.push(`fleetdeployment ${name}: status: ${formatFailure(r.left)}`);
  return E.isRight(r);
};

export const syncFleetDeployments = async (ctx: StatusContext, world: World, reality: Reality, now: Date): Promise<StatusSyncResult> => {
  const existing = await listManaged(ctx);
  const wanted = fleetDeploymentsOf(world);
  const names = new Set<string>(wanted.map((f) => f.name));
  const problems: string[] = [];
  let written = 0;
  let deleted = 0;
  for (const old of existing) {
    if (names.has(old.name)) continue;
    const r = await ctx.api.remove(FLEET_DEPLOYMENT, ctx.namespace, old.name, old.resourceVersion);
    if (E.isRight(r) || r.left._tag === "NotFound") deleted++;
    else problems.push(`fleetdeployment ${old.name}: delete: ${formatFailure(r.left)}`);
  }
  const fleet = status(world, reality, { now });
  for (const fd of wanted) {
    const r = await ctx.api.apply(FLEET_DEPLOYMENT, ctx.namespace, fd.name, specConfig(fd, ctx.namespace), CONTROL_PLANE, ctx.forceConflicts);
    if (E.isLeft(r)) {
      problems.push(`fleetdeployment ${fd.name}: spec: ${formatFailure(r.left)}`);
      continue;
    }
    if (await writeStatus(ctx, fd.name, fleet, problems)) written++;
  }
  return { written, deleted, problems: problems.sort(S.Ord.compare) };
};

/** `reality` is only read when there is a FleetDeployment to refresh. */
export const refreshStatus = async (ctx: StatusContext, reality: () => Promise<Reality>, now: Date): Promise<StatusSyncResult> => {
  const existing = await listManaged(ctx);
  if (existing.length === 0) return { written: 0, deleted: 0, problems: [] };
  const problems: string[] = [];
  const specs: FleetDeploymentSpec[] = [];
  for (const o of existing) {
    if (E.isRight(o.spec)) specs.push(o.spec.right);
    else problems.push(`fleetdeployment ${o.name}: unreadable spec: ${formatFleetDeploymentError(o.spec.left)}`);
  }
  if (specs.length === 0) return { written: 0, deleted: 0, problems };
  // The registered devices are the fleet: the cluster does not know the World's declared fleet.
  const w = makeWorld({ assignments: assignmentsOf(specs) });
  const fleet = status(w, await reality(), { now });
  let written = 0;
  for (const fd of specs) if (await writeStatus(ctx, fd.name, fleet, problems)) written++;
  return { written, deleted: 0, problems: problems.sort(S.Ord.compare) };
};
