/**
 * Worlds merge as a commutative, idempotent monoid, and conflicts are found
 * the same way whatever the order of merging.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { WorldMonoid, EqWorld, world, emptyWorld, worldHash } from "../../src/world/World.ts";
import { assign } from "../../src/world/Assignment.ts";
import { diff } from "../../src/diff/Diff.ts";
import { emptyReality } from "../../src/diff/Reality.ts";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { label } from "../../src/selectors/Selector.ts";
import { monoidLaws, commutativeLaw, idempotentLaw, plainEq } from "./laws.ts";
import { worldArb } from "./arbitraries.ts";

const now = new Date("2026-01-01T00:00:00Z");

describe("WorldMonoid", () => {
  const eq = plainEq(EqWorld.equals);
  monoidLaws(WorldMonoid, worldArb, eq);
  commutativeLaw(WorldMonoid, worldArb, eq);
  idempotentLaw(WorldMonoid, worldArb, eq);

  it("equal worlds hash equal", () =>
    fc.assert(fc.property(worldArb, worldArb, (a, b) => worldHash(WorldMonoid.concat(a, b)) === worldHash(WorldMonoid.concat(b, a)))));

  it("conflicts are the same whatever the order of merging", () =>
    fc.assert(
      fc.property(fc.array(worldArb, { minLength: 1, maxLength: 4 }), fc.func(fc.integer()), (ws, rank) => {
        const shuffled = [...ws].sort((x, y) => rank(worldHash(x)) - rank(worldHash(y)));
        const c1 = diff(ws.reduce(WorldMonoid.concat, emptyWorld), emptyReality, { now }).conflicts;
        const c2 = diff(shuffled.reduce(WorldMonoid.concat, emptyWorld), emptyReality, { now }).conflicts;
        return JSON.stringify(c1) === JSON.stringify(c2);
      }),
    ));
});

describe("conflicts", () => {
  const web = (image: string) => deployment("web", podman({ services: [{ name: "main", image }] }));
  const fleet = [device("pi-01", { labels: { env: "prod", site: "a" } })];

  it("two specs for one deployment at one priority are a conflict, with no action", () => {
    const a = world({ fleet, assignments: [assign(label("env", "prod"), web("web:1"), { name: "team-a" })] });
    const b = world({ assignments: [assign(label("site", "a"), web("web:2"), { name: "team-b" })] });
    const plan = diff(WorldMonoid.concat(a, b), emptyReality, { now });
    expect(plan.actions).toEqual([]);
    expect(plan.conflicts).toHaveLength(1);
    expect(plan.conflicts[0]).toMatchObject({ _tag: "DeploymentConflict", device: "pi-01", deployment: "web" });
  });

  it("a higher priority wins", () => {
    const a = world({ fleet, assignments: [assign(label("env", "prod"), web("web:1"))] });
    const b = world({ assignments: [assign(label("site", "a"), web("web:2"), { priority: 10 })] });
    const plan = diff(WorldMonoid.concat(a, b), emptyReality, { now });
    expect(plan.conflicts).toEqual([]);
    expect(plan.actions).toHaveLength(1);
    expect(plan.actions[0]).toMatchObject({ _tag: "Create", spec: { score: { services: [{ image: "web:2" }] } } });
  });

  it("one device declared twice differently is a conflict and the device is left alone", () => {
    const a = world({ fleet: [device("pi-01", { labels: { env: "prod" } })], assignments: [assign(label("env", "prod"), web("web:1"))] });
    const b = world({ fleet: [device("pi-01", { labels: { env: "dev" } })], assignments: [] });
    const plan = diff(WorldMonoid.concat(a, b), emptyReality, { now });
    expect(plan.conflicts).toMatchObject([{ _tag: "DeviceConflict", device: "pi-01" }]);
    expect(plan.actions).toEqual([]);
    expect(plan.skipped).toMatchObject([{ device: "pi-01" }]);
  });
});
