/**
 * Device objects carry the labels the selectors see, so that for every
 * deployment whose selector has a LabelSelector form, `kubectl get devices
 * -l <that selector>` lists exactly the devices the fleet matched.
 *
 * Which labels the selectors see is the diff's own answer (`targets`): the
 * World's declaration when it declares its fleet, else what each agent
 * reports. So, per Device object:
 * - a device of the fleet: `metadata.labels` = its labels as the fleet sees
 *   them, and `spec.declaredLabels` = the declaration when the World declares
 *   it (the agent's report stays in `spec.labels`: both are visible);
 * - a Device object the fleet does not contain (registered, but the World
 *   declares a fleet without it): no labels, since no selector matches it.
 *
 * Written by server-side apply under its own field manager (`LABEL_WRITER`),
 * conditional on the object's resourceVersion (so a Device deleted meanwhile
 * is never re-created; a changed one is re-read and retried), forced: the labels are derived data with one writer, and a manager of their
 * own keeps this apply from letting go of the desired entries the control
 * plane's manager owns. Labels someone else added by hand are left alone (and
 * are then not the fleet's). An object already carrying what it should is not
 * written. Needs the World, so it runs in `publishWorld` (the CLI calls it
 * after every apply), not in a bare `apply`.
 */
import * as S from "fp-ts/lib/string.js";
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { labelsEqual, type Labels } from "../../algebra/Labels.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import { targets } from "../../diff/Targets.ts";
import type { Reality } from "../../diff/Reality.ts";
import type { World } from "../../world/World.ts";
import { formatFailure, type Api } from "./Api.ts";
import { DEVICE } from "./Crds.ts";
import { decodeDeviceObject, labelsConfig, type DeviceObject } from "./DeviceObject.ts";
import { forEachConcurrently } from "../Pool.ts";

/** The field manager of `metadata.labels` and `spec.declaredLabels` on Device objects. */
export const LABEL_WRITER = "fleet-algebra-labels";

export interface LabelContext {
  readonly api: Api;
  readonly namespace: string;
  readonly concurrency: number;
}

export interface WantedLabels {
  readonly labels: Labels;
  readonly declared?: Labels;
}

/**
 * What each Device object (by id) should carry: pure, the World and Reality
 * in, the labels out. Law (test/kube/labels-law.test.ts): for every selector
 * with a LabelSelector form, the objects whose labels satisfy it are the
 * fleet's matches, plus objects outside the fleet iff it matches no labels.
 */
export const wantedLabels = (world: World, objectIds: Iterable<DeviceId>, registered: Reality): ReadonlyMap<DeviceId, WantedLabels> => {
  const fleet = targets(world, registered).fleet;
  const declared = O.isSome(world.fleet);
  const byId = new Map(fleet.devices.map((d) => [d.id, d] as const));
  const out = new Map<DeviceId, WantedLabels>();
  for (const id of objectIds) {
    const d = byId.get(id);
    out.set(id, d === undefined ? { labels: {} } : declared ? { labels: d.labels, declared: d.labels } : { labels: d.labels });
  }
  return out;
};

const carries = (o: DeviceObject, w: WantedLabels): boolean =>
  labelsEqual(o.metadataLabels, w.labels) &&
  (w.declared === undefined ? o.declaredLabels === undefined : o.declaredLabels !== undefined && labelsEqual(o.declaredLabels, w.declared));

/** Writes the labels of every Device object that does not carry them yet; returns one problem line per failed write. */
export const syncDeviceLabels = async (
  ctx: LabelContext,
  world: World,
  snapshot: { readonly objects: ReadonlyMap<DeviceId, DeviceObject>; readonly reality: Reality },
): Promise<ReadonlyArray<string>> => {
  const wanted = wantedLabels(world, snapshot.objects.keys(), snapshot.reality);
  const todo = [...wanted].filter(([id, w]) => {
    const o = snapshot.objects.get(id);
    return o !== undefined && !carries(o, w);
  });
  const problems: string[] = [];
  await forEachConcurrently(todo, ctx.concurrency, async ([id, w]) => {
    let resourceVersion = (snapshot.objects.get(id) as DeviceObject).resourceVersion;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const r = await ctx.api.apply(DEVICE, ctx.namespace, id, labelsConfig(id, ctx.namespace, resourceVersion, w.labels, w.declared), LABEL_WRITER, true);
      if (E.isRight(r) || r.left._tag === "NotFound") return;
      if (r.left._tag !== "Modified") {
        problems.push(`device ${id}: labels: ${formatFailure(r.left)}`);
        return;
      }
      // A heartbeat or a report changed it meanwhile: re-read and try again.
      const got = await ctx.api.get(DEVICE, ctx.namespace, id);
      if (E.isLeft(got)) {
        if (got.left._tag !== "NotFound") problems.push(`device ${id}: labels: ${formatFailure(got.left)}`);
        return;
      }
      const o = decodeDeviceObject(got.right);
      if (E.isLeft(o)) {
        problems.push(`device ${id}: labels: the Device object is unreadable: ${o.left.message}`);
        return;
      }
      resourceVersion = o.right.resourceVersion;
    }
    problems.push(`device ${id}: labels: gave up after ${MAX_ATTEMPTS} attempts: the Device object kept changing`);
  });
  return problems.sort(S.Ord.compare);
};

const MAX_ATTEMPTS = 5;
