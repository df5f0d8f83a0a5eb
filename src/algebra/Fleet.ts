/**
 * A fleet: an immutable set of devices keyed by id, kept in id order.
 *
 * Set operations compare devices by id (two fleets drawn from one inventory
 * agree on what each id means); `union` keeps the left operand's device when
 * both hold an id, and `conflicts` lists ids whose devices differ, for callers
 * (the World) that must report rather than pick.
 *
 * Laws (checked in test/laws/fleet.test.ts), for fleets over one inventory:
 * - union, intersection: associative, commutative, idempotent; empty is the
 *   identity of union.
 * - `filter(p && q) = intersection(filter(p), filter(q))`,
 *   `filter(p || q) = union(filter(p), filter(q))`,
 *   `filter(!p) = difference(fleet, filter(p))`.
 * - `partition(p)` gives `[filter(!p), filter(p)]`, disjoint, whose union is the fleet.
 */
import * as S from "fp-ts/lib/string.js";
import type { Eq } from "fp-ts/lib/Eq.js";
import type { Predicate } from "fp-ts/lib/Predicate.js";
import * as O from "fp-ts/lib/Option.js";
import type { Monoid } from "fp-ts/lib/Monoid.js";
import { EqDevice, OrdDeviceById, type Device } from "./Device.ts";
import type { DeviceId } from "./Name.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface Fleet {
  readonly _tag: "Fleet";
  /** Devices in id order (code units), unique by id. */
  readonly devices: ReadonlyArray<Device>;
  readonly byId: ReadonlyMap<DeviceId, Device>;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const fromSorted = (devices: ReadonlyArray<Device>): Fleet => {
  // The index is derived from `devices`: built on first use (a diff over registered devices never
  // needs it for a million ids), and not enumerable, so a Fleet is plain data to JSON, to hashing
  // and to the plain-data check of fleet files (src/cli/PlainData.ts).
  let byId: Map<DeviceId, Device> | undefined;
  const fleet = { _tag: "Fleet", devices: Object.freeze(devices) } as { _tag: "Fleet"; devices: ReadonlyArray<Device>; byId: ReadonlyMap<DeviceId, Device> };
  Object.defineProperty(fleet, "byId", {
    enumerable: false,
    get: (): ReadonlyMap<DeviceId, Device> => {
      if (byId === undefined) {
        byId = new Map();
        for (const d of devices) byId.set(d.id, d);
      }
      return byId;
    },
  });
  return Object.freeze(fleet);
};

export const empty: Fleet = fromSorted([]);


/** A fleet of the given devices; for a repeated id the first occurrence is kept. */
export const fromDevices = (devices: Iterable<Device>): Fleet => {
  const list = [...devices];
  // Registered devices usually come in id order already (a backend reads them so): one pass of
  // plain code-unit comparisons (what OrdDeviceId is) finds that, instead of a sort's million Ord calls.
  let increasing = true;
  for (let i = 1; i < list.length && increasing; i++) increasing = (list[i - 1] as Device).id < (list[i] as Device).id;
  if (increasing) return fromSorted(list);
  // The sort is stable, so within a run of one id the first occurrence comes first: keep it
  // (no Map of every id: a million registered devices are fleeted on every diff).
  const sorted = list.sort(OrdDeviceById.compare);
  const unique = sorted.filter((d, i) => i === 0 || (sorted[i - 1] as Device).id !== d.id);
  return fromSorted(unique.length === sorted.length ? sorted : unique);
};

// -------------------------------------------------------------------------------------
// combinators (data-last)
// -------------------------------------------------------------------------------------

export const filter =
  (p: Predicate<Device>) =>
  (fleet: Fleet): Fleet =>
    fromSorted(fleet.devices.filter(p));

/** `[devices failing p, devices passing p]`, as fp-ts' `partition`. */
export const partition =
  (p: Predicate<Device>) =>
  (fleet: Fleet): readonly [Fleet, Fleet] => {
    const no: Device[] = [];
    const yes: Device[] = [];
    for (const d of fleet.devices) (p(d) ? yes : no).push(d);
    return [fromSorted(no), fromSorted(yes)];
  };

/** Merges two id-ordered lists; `pick` decides what to keep from each side. */
const merge = (
  left: ReadonlyArray<Device>,
  right: ReadonlyArray<Device>,
  keep: { readonly leftOnly: boolean; readonly both: boolean; readonly rightOnly: boolean },
): Device[] => {
  const out: Device[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const l = left[i];
    const r = right[j];
    if (r === undefined || (l !== undefined && l.id < r.id)) {
      if (keep.leftOnly) out.push(l as Device);
      i++;
    } else if (l === undefined || r.id < l.id) {
      if (keep.rightOnly) out.push(r);
      j++;
    } else {
      if (keep.both) out.push(l);
      i++;
      j++;
    }
  }
  return out;
};

export const union =
  (that: Fleet) =>
  (self: Fleet): Fleet =>
    fromSorted(merge(self.devices, that.devices, { leftOnly: true, both: true, rightOnly: true }));

export const intersection =
  (that: Fleet) =>
  (self: Fleet): Fleet =>
    fromSorted(merge(self.devices, that.devices, { leftOnly: false, both: true, rightOnly: false }));

/** `self \ that` */
export const difference =
  (that: Fleet) =>
  (self: Fleet): Fleet =>
    fromSorted(merge(self.devices, that.devices, { leftOnly: true, both: false, rightOnly: false }));

/** Ids that both fleets hold with different devices. */
export const conflicts =
  (that: Fleet) =>
  (self: Fleet): ReadonlyArray<DeviceId> =>
    self.devices.filter((d) => {
      const o = that.byId.get(d.id);
      return o !== undefined && !EqDevice.equals(d, o);
    }).map((d) => d.id);

/** Devices grouped by the value of one label; devices without it are left out. Groups in value order. */
export const groupByLabel =
  (key: string) =>
  (fleet: Fleet): ReadonlyMap<string, Fleet> => {
    const groups = new Map<string, Device[]>();
    for (const d of fleet.devices) {
      const v = d.labels[key];
      if (v === undefined) continue;
      const g = groups.get(v);
      if (g === undefined) groups.set(v, [d]);
      else g.push(d);
    }
    return new Map([...groups.keys()].sort(S.Ord.compare).map((v) => [v, fromSorted(groups.get(v) as Device[])]));
  };

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

export const size = (fleet: Fleet): number => fleet.devices.length;
export const lookup =
  (id: DeviceId) =>
  (fleet: Fleet): O.Option<Device> =>
    O.fromNullable(fleet.byId.get(id));
export const ids = (fleet: Fleet): ReadonlyArray<DeviceId> => fleet.devices.map((d) => d.id);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

/** Same ids, and the same device under each id. */
export const EqFleet: Eq<Fleet> = {
  equals: (a, b) =>
    a.devices.length === b.devices.length && a.devices.every((d, i) => EqDevice.equals(d, b.devices[i] as Device)),
};

export const UnionMonoid: Monoid<Fleet> = { concat: (x, y) => union(y)(x), empty };
