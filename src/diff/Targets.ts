/**
 * Targets: which devices a diff looks at, and which it must leave exactly as
 * they are.
 *
 * The fleet is the World's declared `Fleet`, or, when it declares none, the
 * devices that registered. Of those, a device is *left alone* (no action,
 * listed as skipped) when some record of it could not be read (an unreadable
 * record is not evidence of absence) or when the World declares it more than
 * once, differently (a `DeviceConflict`: which declaration is meant?). A
 * damaged device is left alone even when it is no longer in the fleet: its
 * entries are not deleted.
 *
 * `diff`, `status` and `explain` all start here, so they agree on what is
 * evaluated and what is left alone.
 */
import * as O from "fp-ts/lib/Option.js";
import type { Device } from "../algebra/Device.ts";
import * as Fleet from "../algebra/Fleet.ts";
import type { DeviceId } from "../algebra/Name.ts";
import type { World } from "../world/World.ts";
import { OrdSkipped, type Conflict, type Skipped } from "./Plan.ts";
import { registeredFleet, type Reality } from "./Reality.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Why a device is left exactly as it is. */
export type LeftAlone =
  | { readonly _tag: "Unreadable"; readonly why: string }
  | { readonly _tag: "Redeclared"; readonly declarations: ReadonlyArray<Device> };

export const matchLeftAlone =
  <R>(cases: { readonly Unreadable: (why: string) => R; readonly Redeclared: (declarations: ReadonlyArray<Device>) => R }) =>
  (l: LeftAlone): R =>
    l._tag === "Unreadable" ? cases.Unreadable(l.why) : cases.Redeclared(l.declarations);

export const leftAloneText: (l: LeftAlone) => string = matchLeftAlone({
  Unreadable: (why) => `unreadable record: ${why}`,
  Redeclared: () => "declared more than once, differently",
});

export interface Targets {
  /** The fleet: declared, or registered. */
  readonly fleet: Fleet.Fleet;
  /** The devices of the fleet the diff evaluates, in id order. */
  readonly devices: ReadonlyArray<Device>;
  /** Devices left exactly as they are (in the fleet or not), with why. */
  readonly leftAlone: ReadonlyMap<DeviceId, LeftAlone>;
  /** The World's device conflicts, in id order. */
  readonly conflicts: ReadonlyArray<Conflict>;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

export const targets = (world: World, reality: Reality): Targets => {
  const fleet = O.getOrElse(() => registeredFleet(reality))(world.fleet);
  const leftAlone = new Map<DeviceId, LeftAlone>();
  for (const [id, why] of reality.damaged) leftAlone.set(id, { _tag: "Unreadable", why });
  const conflicts: Conflict[] = [];
  for (const { id, declarations } of world.redeclared) {
    conflicts.push({ _tag: "DeviceConflict", device: id, declarations });
    if (!leftAlone.has(id)) leftAlone.set(id, { _tag: "Redeclared", declarations });
  }
  return {
    fleet,
    // Usually nothing is left alone: then the fleet's own array serves, uncopied.
    devices: leftAlone.size === 0 ? fleet.devices : fleet.devices.filter((d) => !leftAlone.has(d.id)),
    leftAlone,
    conflicts,
  };
};

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

/** The devices left alone, as a plan lists them, in id order. */
export const skippedOf = (t: Targets): ReadonlyArray<Skipped> =>
  [...t.leftAlone].map(([device, l]) => ({ device, reason: leftAloneText(l) })).sort(OrdSkipped.compare);
