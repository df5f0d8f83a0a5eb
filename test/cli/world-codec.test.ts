/**
 * The load boundary of fleet files: whatever a fleet module exports (cycles,
 * BigInts, functions, class instances, nesting thousands deep, throwing
 * getters), `decodeWorld` answers with a Left naming the path, or a World;
 * it never throws and never runs out of stack.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import "../laws/setup.ts";
import { decodeWorld } from "../../src/cli/WorldCodec.ts";
import { MAX_VALUE_DEPTH, plainDataProblem } from "../../src/cli/PlainData.ts";
import { formatProblem } from "../../src/algebra/DecodeError.ts";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { label, not, and, or, type Selector } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { worldArb } from "../laws/arbitraries.ts";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));

/** A World as a fleet file's own copy of the library would hand it over: plain, mutable copies. */
const plainCopy = (u: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(u)) as Record<string, unknown>;

/** The first declared device of a World copied as plain data (a World holds a Fleet: `{ _tag, devices }`). */
const firstDevice = (w: Record<string, unknown>): Record<string, unknown> =>
  (w["fleet"] as { value: { devices: Array<Record<string, unknown>> } }).value.devices[0] as Record<string, unknown>;

const problemOf = (u: unknown): string => {
  const r = decodeWorld(u);
  if (E.isRight(r)) throw new Error("expected a Left");
  return r.left.map(formatProblem).join("; ");
};

const nots = (n: number): Selector => {
  let s = label("a", "1");
  for (let i = 0; i < n; i++) s = not(s);
  return s;
};

describe("decodeWorld at the load boundary", () => {
  it("a cyclic or BigInt-holding inventory is a Left naming the field", () => {
    const cyclic = plainCopy(world({ fleet: [device("pi-01")], assignments: [assign("@all", web)] }));
    const inventory: Record<string, unknown> = { cpu: "a72" };
    inventory["self"] = inventory;
    firstDevice(cyclic)["inventory"] = inventory;
    expect(problemOf(cyclic)).toBe("fleet.value.devices.0.inventory.self: a cycle: refers back to fleet.value.devices.0.inventory");

    const big = plainCopy(world({ fleet: [device("pi-01", { inventory: { mem: 1 } })], assignments: [] }));
    (firstDevice(big)["inventory"] as Record<string, unknown>)["mem"] = 10n;
    expect(problemOf(big)).toBe("fleet.value.devices.0.inventory.mem: a BigInt (10n), which JSON cannot carry: use a number or a string");
  });

  it("a cyclic selector is a Left naming the field", () => {
    const w = plainCopy(world({ assignments: [assign("@all", web)] }));
    const sel: Record<string, unknown> = { _tag: "Not" };
    sel["operand"] = sel;
    (w["assignments"] as Array<Record<string, unknown>>)[0]!["selector"] = sel;
    expect(problemOf(w)).toBe("assignments.0.selector.operand: a cycle: refers back to assignments.0.selector");
  });

  it("a selector 700 combinators deep is a Left, one nested within the limit decodes", () => {
    let deep = label("a", "1");
    for (let i = 0; i < 700; i++) deep = i % 2 === 0 ? or(not(deep), label("c", "2")) : and(not(deep), label("b", "1"));
    expect(problemOf(plainCopy(world({ assignments: [assign(deep, web)] })))).toMatch(/^assignments\.0\.selector\..*: nested more than 400 levels deep$/);
    // World, assignments, [0], selector: 3 levels above the selector; each Not is one more.
    const atLimit = nots(MAX_VALUE_DEPTH - 3);
    expect(E.isRight(decodeWorld(plainCopy(world({ assignments: [assign(atLimit, web)] }))))).toBe(true);
    expect(problemOf(plainCopy(world({ assignments: [assign(not(atLimit), web)] })))).toMatch(/nested more than 400 levels deep$/);
  });

  it("a value shared by many fields is fine, and checked once (a lattice 60 deep)", () => {
    const w = plainCopy(world({ assignments: [assign("@all", web)] }));
    let shared: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 60; i++) shared = { left: shared, right: shared };
    expect(plainDataProblem({ ...w, extra: shared })).toBeUndefined();
    // ...while the same value reached deeper than the limit is still found.
    let chain: Record<string, unknown> = { shared };
    for (let i = 0; i < MAX_VALUE_DEPTH - 60; i++) chain = { chain };
    expect(plainDataProblem({ a: shared, b: chain })?.message).toBe("nested more than 400 levels deep");
  });

  it("functions, symbols, NaN, class instances and throwing getters are Lefts naming the field", () => {
    const base = (): Record<string, unknown> => plainCopy(world({ fleet: [device("pi-01")], assignments: [] }));
    const withInventory = (inventory: unknown): Record<string, unknown> => {
      const w = base();
      firstDevice(w)["inventory"] = inventory;
      return w;
    };
    expect(problemOf(withInventory({ f: () => 1 }))).toBe("fleet.value.devices.0.inventory.f: a function where data was expected");
    expect(problemOf(withInventory({ s: Symbol("x") }))).toBe("fleet.value.devices.0.inventory.s: a symbol, which JSON cannot carry");
    expect(problemOf(withInventory({ n: NaN }))).toBe("fleet.value.devices.0.inventory.n: NaN, which JSON cannot carry");
    expect(problemOf(withInventory({ m: new Map() }))).toBe("fleet.value.devices.0.inventory.m: a Map, where plain data was expected");
    expect(problemOf(withInventory({ get boom(): never { throw new Error("no"); } }))).toBe("fleet.value.devices.0.inventory: reading the value threw: no");
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(problemOf(withInventory({ p: revoked.proxy }))).toMatch(/^fleet\.value\.devices\.0\.inventory(\.p)?: /);
  });

  it("a NaN port says NaN (JSON would say null)", () => {
    expect(() => podman({ services: [{ name: "s", image: "i", ports: [{ container: NaN, host: 80 }] }] })).toThrow(/services\.0\.ports\.0\.container: expected Port, got NaN$/);
  });

  it("a hand-made World without a fleet field says the field is missing", () => {
    expect(problemOf({ _tag: "World", assignments: [] })).toMatch(/^fleet: .*got nothing \(the field is missing\)$/);
  });

  it("Worlds made by the library decode to equal Worlds", () =>
    fc.assert(
      fc.property(worldArb, (w) => {
        const r = decodeWorld(w);
        return E.isRight(r) && JSON.stringify(r.right) === JSON.stringify(w);
      }),
    ));

  it("never throws on random nested values, with cycles and deep nesting (fuzz)", () => {
    // Random values, some spliced into a World, some given a cycle or buried thousands deep.
    const anyValue = fc.anything({ maxDepth: 4, withBigInt: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true });
    const spliced = fc.tuple(worldArb, anyValue, fc.nat()).map(([w, v, i]) => {
      const copy = plainCopy(w);
      const keys = ["fleet", "assignments", "_tag"] as const;
      copy[keys[i % keys.length] as string] = v;
      return copy;
    });
    const cyclic = fc.tuple(worldArb, fc.nat()).map(([w, i]) => {
      const copy = plainCopy(w);
      const assignments = copy["assignments"] as Array<Record<string, unknown>>;
      const target = assignments[i % Math.max(1, assignments.length)] ?? copy;
      target["selector"] = copy;
      return copy;
    });
    const deep = fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.constantFrom("Not", "And", "Or")).map(([n, tag]) => {
      let s: Record<string, unknown> = { _tag: "HasLabel", key: "a" };
      for (let i = 0; i < n; i++) s = tag === "Not" ? { _tag: "Not", operand: s } : { _tag: tag, operands: [s, { _tag: "All" }] };
      return { _tag: "World", fleet: { _tag: "None" }, assignments: [{ _tag: "Assignment", selector: s, deployments: [], priority: 0, name: "x" }] };
    });
    fc.assert(
      fc.property(fc.oneof(anyValue, spliced, cyclic, deep), (u) => {
        const r = decodeWorld(u);
        return E.isRight(r) || (r.left.length > 0 && r.left.every((p) => typeof p.message === "string" && p.message !== ""));
      }),
      { numRuns: 300 },
    );
  });
});
