/**
 * Why one device gets what it gets: what `fleet explain` shows, minus the
 * rendering. Pure, like the diff, and built from the diff's own steps
 * (`targets`, `planDevice`, `removedDevices`), so that what it says apply
 * will do is what `diff` plans for the device, and a device the diff leaves
 * alone is never said to be changed.
 */
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../algebra/Device.ts";
import { labelsEqual } from "../algebra/Labels.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { explain, type Explanation } from "../selectors/Explain.ts";
import { OrdAssignmentByPriority, type Assignment } from "../world/Assignment.ts";
import { declarationsOf, type World } from "../world/World.ts";
import { planDevice, presenceAt, removedDevices, type DiffOptions } from "./Diff.ts";
import type { Action, Conflict, Presence } from "./Plan.ts";
import type { DesiredEntry, ObservedState, Reality, ReportedDevice } from "./Reality.ts";
import { resolver, type Resolution, type Resolved } from "./Resolve.ts";
import { leftAloneText, targets } from "./Targets.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface AssignmentVerdict {
  readonly assignment: Assignment;
  /** The selector evaluated clause by clause on the device. */
  readonly explanation: Explanation;
  /** What it gives; `shadowedBy` names the assignment that wins with a higher priority. */
  readonly gives: ReadonlyArray<{ readonly deployment: DeploymentName; readonly shadowedBy?: string }>;
}

/** What happens to one name on the device. */
export type Fate =
  | { readonly _tag: "Act"; readonly action: Action }
  | { readonly _tag: "LeftAlone"; readonly why: string }
  | { readonly _tag: "InConflict" }
  | { readonly _tag: "AsDesired" };

export interface NameRow {
  readonly deployment: DeploymentName;
  readonly desired?: Resolved;
  readonly published?: DesiredEntry;
  readonly observed?: ObservedState;
  readonly fate: Fate;
}

export interface DeviceExplanation {
  readonly device: DeviceId;
  /** `None`: the World declares no fleet. `Some([])`: it declares one without this device. */
  readonly declarations: O.Option<ReadonlyArray<Device>>;
  readonly registered?: ReportedDevice;
  /** The device the selectors see: the (first) declaration when the World declares a fleet, else the registered one. */
  readonly seen: Device;
  readonly inFleet: boolean;
  /** It registered with other labels or arch than declared (selectors use the declaration). */
  readonly registeredDiffers: boolean;
  readonly presence: Presence;
  /** Why the diff leaves the device exactly as it is, if it does. */
  readonly leftAlone?: string;
  readonly unreadable?: string;
  /** In `OrdAssignmentByPriority` order. */
  readonly assignments: ReadonlyArray<AssignmentVerdict>;
  /** Empty when the device is not in the fleet. */
  readonly resolution: Resolution;
  /** The device's conflicts, as the plan reports them. */
  readonly conflicts: ReadonlyArray<Conflict>;
  /** Every name desired, published or observed, in name order. */
  readonly names: ReadonlyArray<NameRow>;
}

export interface UnknownDevice {
  readonly _tag: "UnknownDevice";
  readonly device: DeviceId;
  /** Whether the World declares a fleet at all. */
  readonly fleetDeclared: boolean;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const nothingResolved = (r: Resolution): Resolution => ({ ...r, entries: [], byName: new Map(), conflicts: [], conflicted: new Set(), clashes: [] });

export const explainDevice = (world: World, reality: Reality, id: DeviceId, options: DiffOptions): E.Either<UnknownDevice, DeviceExplanation> => {
  const declared = O.map(() => declarationsOf(id)(world))(world.fleet);
  const registered = reality.devices.get(id);
  const seen = O.isSome(declared) ? (declared.value[0] ?? registered?.device) : registered?.device;
  if (seen === undefined) return E.left({ _tag: "UnknownDevice", device: id, fleetDeclared: O.isSome(world.fleet) });

  const presenceOf = presenceAt(reality, options);
  const t = targets(world, reality);
  const inFleet = t.fleet.byId.has(id);
  const full = resolver(world)(seen);
  const published = reality.desired.get(id);
  const left = t.leftAlone.get(id);
  const step = left === undefined && inFleet ? planDevice(id, full, published, presenceOf) : undefined;
  const leftAlone = left !== undefined ? leftAloneText(left) : step?._tag === "Clashing" ? step.reason : undefined;
  const actions: ReadonlyArray<Action> =
    step?._tag === "Planned"
      ? step.actions
      : left === undefined && !inFleet && published !== undefined
        ? removedDevices(t, { ...reality, desired: new Map([[id, published]]) }, presenceOf)
        : [];
  const conflicts = [...t.conflicts.filter((c) => c.device === id), ...(step?.conflicts ?? [])];
  const resolution = inFleet ? full : nothingResolved(full);

  const shadowedBy = new Map(full.shadowed.map((s) => [`${s.assignment}\u0000${s.deployment}`, s.by]));
  const assignments = [...world.assignments].sort(OrdAssignmentByPriority.compare).map((a): AssignmentVerdict => {
    const explanation = explain(a.selector, seen);
    return {
      assignment: a,
      explanation,
      gives: a.deployments.map((d) => {
        const by = explanation.verdict ? shadowedBy.get(`${a.name}\u0000${d.name}`) : undefined;
        return by !== undefined ? { deployment: d.name, shadowedBy: by } : { deployment: d.name };
      }),
    };
  });

  const observed = reality.observed.get(id);
  const byName = new Map(actions.map((a) => [a.deployment, a]));
  const all = new Set<DeploymentName>([...resolution.entries.map((e) => e.name), ...(published?.keys() ?? []), ...(observed?.keys() ?? [])]);
  const names = [...all].sort(S.Ord.compare).map((n): NameRow => {
    const action = byName.get(n);
    const fate: Fate =
      action !== undefined
        ? { _tag: "Act", action }
        : leftAlone !== undefined
          ? { _tag: "LeftAlone", why: leftAlone }
          : resolution.conflicted.has(n)
            ? { _tag: "InConflict" }
            : { _tag: "AsDesired" };
    const desired = resolution.byName.get(n);
    const pub = published?.get(n);
    const obs = observed?.get(n);
    return { deployment: n, ...(desired !== undefined ? { desired } : {}), ...(pub !== undefined ? { published: pub } : {}), ...(obs !== undefined ? { observed: obs } : {}), fate };
  });

  const first = O.isSome(declared) ? declared.value[0] : undefined;
  const unreadable = reality.damaged.get(id);
  return E.right({
    device: id,
    declarations: declared,
    ...(registered !== undefined ? { registered } : {}),
    seen,
    inFleet,
    registeredDiffers: registered !== undefined && first !== undefined && (registered.device.arch !== first.arch || !labelsEqual(registered.device.labels, first.labels)),
    presence: presenceOf(id),
    ...(leftAlone !== undefined ? { leftAlone } : {}),
    ...(unreadable !== undefined ? { unreadable } : {}),
    assignments,
    resolution,
    conflicts,
    names,
  });
};
