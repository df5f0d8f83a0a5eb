/** Fleets over one inventory form a set algebra; grouping and lookups agree with it. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as Fleet from "../../src/algebra/Fleet.ts";
import { device, OrdDeviceById } from "../../src/algebra/Device.ts";
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
  it("fromDevices is a stable sort by id keeping each id's first device (sorted input too)", () => {
    // A small id space so that repeats are common; each device remembers its position.
    const listArb = fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e"), fc.nat(3)), { maxLength: 12 });
    const naive = (ds: ReadonlyArray<ReturnType<typeof device>>) => {
      const byId = new Map<string, ReturnType<typeof device>>();
      for (const d of ds) if (!byId.has(d.id)) byId.set(d.id, d);
      return [...byId.keys()].sort().map((id) => byId.get(id));
    };
    fc.assert(
      fc.property(listArb, fc.boolean(), (raw, presort) => {
        const ds = raw.map(([id, n], i) => device(id, { labels: { n: String(n), at: String(i) } }));
        const input = presort ? [...ds].sort(OrdDeviceById.compare) : ds;
        expect(Fleet.fromDevices(input).devices).toEqual(naive(input));
      }),
    );
  });
  it("conflicts names ids whose devices differ", () => {
    const a = Fleet.fromDevices([device("d1", { labels: { env: "prod" } }), device("d2")]);
    const b = Fleet.fromDevices([device("d1", { labels: { env: "dev" } }), device("d2")]);
    expect(Fleet.conflicts(b)(a)).toEqual(["d1"]);
  });
});
