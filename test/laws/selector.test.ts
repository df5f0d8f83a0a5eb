/**
 * Selectors form a Boolean algebra under semantic equivalence, and filtering
 * a fleet is a homomorphism into fleets.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { SelectorBooleanAlgebra, matches, select, partitionBy, and, or, not, type Selector } from "../../src/selectors/Selector.ts";
import * as Fleet from "../../src/algebra/Fleet.ts";
import { device, type Device } from "../../src/algebra/Device.ts";
import { booleanAlgebraLaws, type Equiv } from "./laws.ts";
import { deviceArb, selectorArb, inventoryArb, fleetFrom } from "./arbitraries.ts";

/** Same verdict on a random device. */
const semantic: Equiv<Selector, Device> = {
  context: deviceArb,
  equals: (x, y, d) => matches(x)(d) === matches(y)(d),
};

describe("SelectorBooleanAlgebra (semantic equivalence)", () => {
  booleanAlgebraLaws(SelectorBooleanAlgebra, selectorArb, semantic);
});

describe("filtering is a homomorphism", () => {
  const world = inventoryArb.chain((inv) => fc.tuple(fleetFrom(inv), selectorArb, selectorArb));
  it("filter(a and b) = filter(a) ∩ filter(b)", () =>
    fc.assert(fc.property(world, ([f, a, b]) => Fleet.EqFleet.equals(select(and(a, b))(f), Fleet.intersection(select(b)(f))(select(a)(f))))));
  it("filter(a or b) = filter(a) ∪ filter(b)", () =>
    fc.assert(fc.property(world, ([f, a, b]) => Fleet.EqFleet.equals(select(or(a, b))(f), Fleet.union(select(b)(f))(select(a)(f))))));
  it("filter(not a) = fleet \\ filter(a)", () =>
    fc.assert(fc.property(world, ([f, a]) => Fleet.EqFleet.equals(select(not(a))(f), Fleet.difference(select(a)(f))(f)))));
  it("partition(a) = [filter(not a), filter(a)], disjoint and covering", () =>
    fc.assert(
      fc.property(world, ([f, a]) => {
        const [no, yes] = partitionBy(a)(f);
        return (
          Fleet.EqFleet.equals(no, select(not(a))(f)) &&
          Fleet.EqFleet.equals(yes, select(a)(f)) &&
          Fleet.size(Fleet.intersection(yes)(no)) === 0 &&
          Fleet.EqFleet.equals(Fleet.union(yes)(no), f)
        );
      }),
    ));
});

describe("Kubernetes matching semantics", () => {
  const d = device("pi-01", { labels: { env: "prod", gen: "3", name: "x1" }, arch: "aarch64" });
  const bare = device("pi-02");
  it("!= and notin match devices that lack the key", async () => {
    const { labelNotEquals, labelNotIn } = await import("../../src/selectors/Selector.ts");
    expect(matches(labelNotEquals("zone", "a"))(bare)).toBe(true);
    expect(matches(labelNotIn("zone", ["a"]))(bare)).toBe(true);
    expect(matches(labelNotEquals("env", "prod"))(d)).toBe(false);
  });
  it("> and < need an existing integer label", async () => {
    const { labelGt, labelLt } = await import("../../src/selectors/Selector.ts");
    expect(matches(labelGt("gen", 2))(d)).toBe(true);
    expect(matches(labelLt("gen", 3))(d)).toBe(false);
    expect(matches(labelGt("name", 0))(d)).toBe(false);
    expect(matches(labelLt("gen", 9))(bare)).toBe(false);
  });
});
