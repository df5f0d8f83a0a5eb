/**
 * A World: the declared fleet (or none, meaning "the devices that report")
 * and the assignments. Pure data; the control plane's only job is to make
 * reality match it.
 *
 * Worlds from several files (two teams) merge with `WorldMonoid`: declared
 * devices and assignments are each a set (by value), kept in a canonical
 * order, so merging is associative, commutative and idempotent with the empty
 * world as identity. Nothing is resolved while merging: a device declared
 * twice in two ways, or two specs for one deployment at one priority, is
 * found by the diff, the same whatever the order of merging.
 */
import * as O from "fp-ts/lib/Option.js";
import type { Eq } from "fp-ts/lib/Eq.js";
import type { Monoid } from "fp-ts/lib/Monoid.js";
import { DeviceCodec, OrdDevice, type Device } from "../algebra/Device.ts";
import { contentHash } from "../algebra/Canonical.ts";
import { OrdAssignment, type Assignment } from "./Assignment.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface World {
  readonly _tag: "World";
  /** `None`: the fleet is whatever devices report. `Some`: exactly these declarations, in `OrdDevice` order. */
  readonly fleet: O.Option<ReadonlyArray<Device>>;
  /** In `OrdAssignment` order, unique by id. */
  readonly assignments: ReadonlyArray<Assignment>;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const uniqueSorted = <A>(xs: ReadonlyArray<A>, compare: (a: A, b: A) => number): ReadonlyArray<A> => {
  const sorted = [...xs].sort(compare);
  return Object.freeze(sorted.filter((x, i) => i === 0 || compare(sorted[i - 1] as A, x) !== 0));
};

const make = (fleet: O.Option<ReadonlyArray<Device>>, assignments: ReadonlyArray<Assignment>): World =>
  Object.freeze({
    _tag: "World",
    fleet: O.map((ds: ReadonlyArray<Device>) => uniqueSorted(ds, OrdDevice.compare))(fleet),
    assignments: uniqueSorted(assignments, OrdAssignment.compare),
  });

/** `world({ fleet: [device(...)], assignments: [assign(...)] })`; omit `fleet` to use the reporting devices. */
export const world = (input: { readonly fleet?: ReadonlyArray<Device>; readonly assignments: ReadonlyArray<Assignment> }): World =>
  make(O.fromNullable(input.fleet), input.assignments);

export const emptyWorld: World = make(O.none, []);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

const concatFleets = (x: O.Option<ReadonlyArray<Device>>, y: O.Option<ReadonlyArray<Device>>): O.Option<ReadonlyArray<Device>> =>
  O.isNone(x) ? y : O.isNone(y) ? x : O.some([...x.value, ...y.value]);

/** Merge of two teams' worlds. Commutative and idempotent; `emptyWorld` is the identity. */
export const WorldMonoid: Monoid<World> = {
  concat: (x, y) => make(concatFleets(x.fleet, y.fleet), [...x.assignments, ...y.assignments]),
  empty: emptyWorld,
};

export const EqWorld: Eq<World> = {
  equals: (a, b) =>
    O.isSome(a.fleet) === O.isSome(b.fleet) &&
    (O.isNone(a.fleet) ||
      (O.isSome(b.fleet) &&
        a.fleet.value.length === b.fleet.value.length &&
        a.fleet.value.every((d, i) => OrdDevice.compare(d, (b.fleet as O.Some<ReadonlyArray<Device>>).value[i] as Device) === 0))) &&
    a.assignments.length === b.assignments.length &&
    a.assignments.every((x, i) => x.id === b.assignments[i]?.id),
};

/** Content hash of the whole World; a saved plan is bound to it. */
export const worldHash = (w: World): string =>
  contentHash({
    fleet: O.isNone(w.fleet) ? null : w.fleet.value.map((d) => DeviceCodec.encode(d)),
    assignments: w.assignments.map((a) => a.id),
  });
