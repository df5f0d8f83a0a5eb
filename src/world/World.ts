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
import type { Ord } from "fp-ts/lib/Ord.js";
import { DeviceCodec, EqDevice, OrdDevice, type Device } from "../algebra/Device.ts";
import * as Fleet from "../algebra/Fleet.ts";
import type { DeviceId } from "../algebra/Name.ts";
import { contentHash } from "../algebra/Canonical.ts";
import { OrdAssignment, type Assignment } from "./Assignment.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface Redeclaration {
  readonly id: DeviceId;
  /** Every declaration of the id, in `OrdDevice` order. */
  readonly declarations: ReadonlyArray<Device>;
}

export interface World {
  readonly _tag: "World";
  /**
   * `None`: the fleet is whatever devices report. `Some`: the declared devices,
   * one per id; for an id declared several times differently, the least
   * declaration in `OrdDevice` order (the diff leaves such a device alone).
   */
  readonly fleet: O.Option<Fleet.Fleet>;
  /** Ids declared more than once, differently, in id order (plain data, so a World survives JSON). */
  readonly redeclared: ReadonlyArray<Redeclaration>;
  /** In `OrdAssignment` order, unique by id. */
  readonly assignments: ReadonlyArray<Assignment>;
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const uniqueSorted = <A>(xs: ReadonlyArray<A>, ord: Ord<A>): ReadonlyArray<A> => {
  const sorted = [...xs].sort(ord.compare);
  return Object.freeze(sorted.filter((x, i) => i === 0 || ord.compare(sorted[i - 1] as A, x) !== 0));
};

const noRedeclarations: ReadonlyArray<Redeclaration> = Object.freeze([]);

/** Declarations in `OrdDevice` order, unique by value: a run of one id is a redeclaration. */
const redeclarationsOf = (sorted: ReadonlyArray<Device>): ReadonlyArray<Redeclaration> => {
  const out: Redeclaration[] = [];
  for (let i = 0; i < sorted.length; ) {
    const id = (sorted[i] as Device).id;
    let j = i + 1;
    while (j < sorted.length && (sorted[j] as Device).id === id) j++;
    if (j - i > 1) out.push(Object.freeze({ id, declarations: Object.freeze(sorted.slice(i, j)) }));
    i = j;
  }
  return out.length === 0 ? noRedeclarations : Object.freeze(out);
};

const make = (declared: O.Option<ReadonlyArray<Device>>, assignments: ReadonlyArray<Assignment>): World => {
  const sorted = O.map((ds: ReadonlyArray<Device>) => uniqueSorted(ds, OrdDevice))(declared);
  return Object.freeze({
    _tag: "World",
    // fromDevices keeps the first of an id: the least declaration, whatever the order of merging.
    fleet: O.map(Fleet.fromDevices)(sorted),
    redeclared: O.isNone(sorted) ? noRedeclarations : redeclarationsOf(sorted.value),
    assignments: uniqueSorted(assignments, OrdAssignment),
  });
};

/** `world({ fleet: [device(...)], assignments: [assign(...)] })`; omit `fleet` to use the reporting devices. */
export const world = (input: { readonly fleet?: ReadonlyArray<Device>; readonly assignments: ReadonlyArray<Assignment> }): World =>
  make(O.fromNullable(input.fleet), input.assignments);

export const emptyWorld: World = make(O.none, []);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

/** The declarations of an id declared twice differently (a handful at most: a linear scan). */
const redeclarationOf =
  (id: DeviceId) =>
  (w: World): ReadonlyArray<Device> | undefined =>
    w.redeclared.find((r) => r.id === id)?.declarations;

/** Every declaration (`None` when the World declares no fleet), in `OrdDevice` order, unique by value. */
export const declarations = (w: World): O.Option<ReadonlyArray<Device>> =>
  O.map((fleet: Fleet.Fleet) =>
    w.redeclared.length === 0 ? fleet.devices : fleet.devices.flatMap((d) => redeclarationOf(d.id)(w) ?? [d]),
  )(w.fleet);

/** How a World declares one id: not at all, once, or several times differently. */
export const declarationsOf =
  (id: DeviceId) =>
  (w: World): ReadonlyArray<Device> =>
    redeclarationOf(id)(w) ?? (O.isSome(w.fleet) ? O.match(() => [], (d: Device) => [d])(Fleet.lookup(id)(w.fleet.value)) : []);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

const concatDeclarations = (x: World, y: World): O.Option<ReadonlyArray<Device>> => {
  const dx = declarations(x);
  const dy = declarations(y);
  return O.isNone(dx) ? dy : O.isNone(dy) ? dx : O.some([...dx.value, ...dy.value]);
};

/** Merge of two teams' worlds. Commutative and idempotent; `emptyWorld` is the identity. */
export const WorldMonoid: Monoid<World> = {
  concat: (x, y) => make(concatDeclarations(x, y), [...x.assignments, ...y.assignments]),
  empty: emptyWorld,
};

const EqDeclarations: Eq<O.Option<ReadonlyArray<Device>>> = O.getEq({
  equals: (a, b) => a.length === b.length && a.every((d, i) => EqDevice.equals(d, b[i] as Device)),
});

export const EqWorld: Eq<World> = {
  equals: (a, b) =>
    EqDeclarations.equals(declarations(a), declarations(b)) &&
    a.assignments.length === b.assignments.length &&
    a.assignments.every((x, i) => x.id === b.assignments[i]?.id),
};

/** Content hash of the whole World; a saved plan is bound to it. */
export const worldHash = (w: World): string =>
  contentHash({
    fleet: O.match(
      () => null,
      (ds: ReadonlyArray<Device>) => ds.map((d) => DeviceCodec.encode(d)),
    )(declarations(w)),
    assignments: w.assignments.map((a) => a.id),
  });
