/** Fleets over one inventory form a set algebra; grouping and lookups agree with it. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as Fleet from "../../src/algebra/Fleet.ts";
import { device } from "../../src/algebra/Device.ts";
import { monoidLaws, commutativeLaw, idempotentLaw, plainEq } from "./laws.ts";
import { inventoryArb, fleetFrom } from "./arbitraries.ts";

// One inventory per run keeps "same id, same device", the precondition of the set laws.
const fleets = inventoryArb.chain((inv) => fc.tuple(fleetFrom(inv), fleetFrom(inv), fleetFrom(inv)));
const eq = plainEq(Fleet.EqFleet.equals);

describe("Fleet union monoid", () => {
  // The generic suite draws operands independently: draw them from one fixed inventory.
  const inventory = fc.sample(inventoryArb, { seed: 7, numRuns: 1 })[0] ?? [];
  const arb = fleetFrom(inventory);
  monoidLaws(Fleet.UnionMonoid, arb, eq);
  commutativeLaw(Fleet.UnionMonoid, arb, eq);
  idempotentLaw(Fleet.UnionMonoid, arb, eq);
});

describe("Fleet set operations", () => {
  const E = Fleet.EqFleet.equals;
  it("intersection is associative, commutative and idempotent", () =>
    fc.assert(
      fc.property(fleets, ([a, b, c]) =>
        E(Fleet.intersection(c)(Fleet.intersection(b)(a)), Fleet.intersection(Fleet.intersection(c)(b))(a)) &&
        E(Fleet.intersection(b)(a), Fleet.intersection(a)(b)) &&
        E(Fleet.intersection(a)(a), a),
      ),
    ));
  it("a \\ b and a ∩ b partition a", () =>
    fc.assert(
      fc.property(fleets, ([a, b]) => {
        const d = Fleet.difference(b)(a);
        const i = Fleet.intersection(b)(a);
        return E(Fleet.union(i)(d), a) && Fleet.size(Fleet.intersection(i)(d)) === 0;
      }),
    ));
  it("devices are kept in id order, unique", () =>
    fc.assert(
      fc.property(fleets, ([a, b]) => {
        const u = Fleet.union(b)(a).devices.map((d) => d.id);
        return u.every((id, i) => i === 0 || (u[i - 1] as string) < id);
      }),
    ));
  it("groupByLabel covers exactly the devices that have the key", () =>
    fc.assert(
      fc.property(fleets, ([a]) => {
        const groups = Fleet.groupByLabel("env")(a);
        const members = [...groups.values()].reduce((acc, g) => Fleet.union(g)(acc), Fleet.empty);
        return E(members, Fleet.filter((d) => d.labels["env"] !== undefined)(a)) && [...groups].every(([v, g]) => g.devices.every((d) => d.labels["env"] === v));
      }),
    ));
  it("conflicts names ids whose devices differ", () => {
    const a = Fleet.fromDevices([device("d1", { labels: { env: "prod" } }), device("d2")]);
    const b = Fleet.fromDevices([device("d1", { labels: { env: "dev" } }), device("d2")]);
    expect(Fleet.conflicts(b)(a)).toEqual(["d1"]);
  });
});
