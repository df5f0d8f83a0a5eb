/**
 * The dashboard's views agree with the library's pure functions: counts are
 * `status`'s, the device filter is the compiled selector, the digest ignores
 * the clock while nothing shown changes, and bad input becomes a value.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { unsafeDeviceId } from "../../src/algebra/Name.ts";
import { targets } from "../../src/diff/Targets.ts";
import { status } from "../../src/diff/Status.ts";
import { printSelector } from "../../src/selectors/Print.ts";
import { compile } from "../../src/selectors/Selector.ts";
import { api, type Latest } from "../../src/cli/dashboard/Api.ts";
import { explainDevice } from "../../src/cli/dashboard/DeviceExplanation.ts";
import { devicesView, digest, statusView, type Observation } from "../../src/cli/dashboard/Snapshot.ts";
import { NOW, realityArb, selectorArb, worldArb } from "../laws/arbitraries.ts";

const observationArb: fc.Arbitrary<Observation> = fc
  .tuple(worldArb, realityArb({ damaged: true }))
  .map(([world, reality]) => ({ world, reality, problems: [], now: NOW, offlineAfterMs: 90_000 }));

describe("dashboard views", () => {
  it("the bars are status's counts, and matched = succeeded + failed + pending + offline + unhealthy", () =>
    fc.assert(
      fc.property(observationArb, (o) => {
        const v = statusView(o);
        const st = status(o.world, o.reality, { now: o.now, offlineAfterMs: o.offlineAfterMs });
        expect(v.deployments.map((d) => [d.deployment, d.matched, d.succeeded, d.failed, d.pending, d.offline])).toEqual(
          st.deployments.map((d) => [d.deployment, d.matched, d.succeeded, d.failed, d.pending, d.offline]),
        );
        return v.deployments.every((d) => d.matched === d.succeeded + d.failed + d.pending + d.offline + d.unhealthy);
      }),
    ));

  it("filtering by a selector keeps exactly the devices the compiled selector accepts, in id order", () =>
    fc.assert(
      fc.property(observationArb, selectorArb, (o, s) => {
        const v = devicesView(o, printSelector(s));
        if (E.isLeft(v)) return false;
        const accepts = compile(s);
        const expected = targets(o.world, o.reality).fleet.devices.filter(accepts).map((d) => d.id).sort();
        expect(v.right.devices.map((d) => d.id)).toEqual(expected);
        return true;
      }),
    ));

  it("the empty selector keeps every device", () =>
    fc.assert(
      fc.property(observationArb, (o) => {
        const v = devicesView(o, "");
        return E.isRight(v) && v.right.devices.length === v.right.total;
      }),
    ));

  it("a bad selector is a value with the position of the problem", () => {
    const o: Observation = { world: fc.sample(worldArb, { numRuns: 1, seed: 1 })[0]!, reality: fc.sample(realityArb(), { numRuns: 1, seed: 1 })[0]!, problems: [], now: NOW, offlineAfterMs: 90_000 };
    const v = devicesView(o, "env in (prod");
    expect(E.isLeft(v) && v.left.position).toBe(12);
    const latest: Latest = { version: 1, observation: o, error: undefined };
    const r = api("/api/devices", new URLSearchParams({ selector: "env in (prod" }), latest, "test");
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { position: 12, input: "env in (prod" } });
    expect(api("/api/devices/Not_An_Id", new URLSearchParams(), latest, "test").status).toBe(400);
    expect(api("/api/devices/%E0%A4%A", new URLSearchParams(), latest, "test").status).toBe(400);
    expect(api("/api/nothing", new URLSearchParams(), latest, "test").status).toBe(404);
    expect(api("/api/status", new URLSearchParams(), { version: 0, observation: undefined, error: "refused" }, "test")).toMatchObject({ status: 503 });
  });

  it("the digest does not move with the clock while no device's presence does", () =>
    fc.assert(
      fc.property(observationArb, fc.integer({ min: 1, max: 60_000 }), (o, dt) => {
        const later = { ...o, now: new Date(o.now.getTime() + dt) };
        const presence = (x: Observation) => statusView(x).devices;
        fc.pre(JSON.stringify(presence(o)) === JSON.stringify(presence(later)));
        return digest(o) === digest(later);
      }),
    ));

  it("every assignment's verdict in the drill-down is the compiled selector's verdict on the device", () =>
    fc.assert(
      fc.property(observationArb, (o) => {
        for (const d of targets(o.world, o.reality).fleet.devices) {
          const x = explainDevice(o, unsafeDeviceId(d.id));
          if (E.isLeft(x)) return false;
          // Names may repeat across assignments: compare the sorted (name, verdict) pairs.
          const want = o.world.assignments.map((a) => `${a.name}\u0000${compile(a.selector)(d)}`).sort();
          const got = x.right.assignments.map((a) => `${a.name}\u0000${a.verdict}`).sort();
          expect(got).toEqual(want);
          if (!x.right.assignments.every((a) => a.explanation.verdict === a.verdict)) return false;
        }
        return true;
      }),
    ));
});
