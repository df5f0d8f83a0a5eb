/**
 * The incremental Planner equals the full diff: after every event of a random
 * sequence (registrations, relabels, heartbeats, published and deleted
 * entries, observations, damage, repairs, new Worlds, time moving on),
 * `planner.plan()` deep-equals `diff(world, reality, { now })` of the same
 * inputs, where the Reality is the reference `realityAfter` fold of the
 * events. Worlds and Realities carry every kind of conflict and dirty edge.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deployment, specHash } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import { planner, realityAfter, type PlannerEvent } from "../../src/diff/Planner.ts";
import type { Reality } from "../../src/diff/Reality.ts";
import type { World } from "../../src/world/World.ts";
import {
  clashyDeploymentArb,
  clashyRealityArb,
  clashyWorldArb,
  DEPLOYMENTS,
  deploymentArb,
  deviceWithId,
  IDS,
  NOW,
  realityArb,
  worldArb,
} from "./arbitraries.ts";
import { initialOf, scenarioArb, worldOf } from "./rollout-arbitraries.ts";

const idArb = fc.constantFrom(...IDS).map((id) => id as DeviceId);
const nameArb = fc.constantFrom(...DEPLOYMENTS).map((n) => n as DeploymentName);
/** Times around NOW: heartbeats and ticks move devices across the 90 s offline line both ways. */
const timeArb = fc.integer({ min: -300_000, max: 300_000 }).map((ms) => new Date(NOW.getTime() + ms));

const eventArb = (worlds: fc.Arbitrary<World>): fc.Arbitrary<PlannerEvent> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.tuple(idArb, fc.option(timeArb, { nil: undefined })).chain(([id, at]) => deviceWithId(id).map((device): PlannerEvent => ({ _tag: "DeviceReported", device: at === undefined ? { device } : { device, lastHeartbeat: at } }))) },
    { weight: 1, arbitrary: idArb.map((id): PlannerEvent => ({ _tag: "DeviceGone", id })) },
    { weight: 3, arbitrary: fc.tuple(idArb, timeArb).map(([id, at]): PlannerEvent => ({ _tag: "Heartbeat", id, at })) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(idArb, nameArb, fc.oneof(deploymentArb, clashyDeploymentArb), fc.boolean(), fc.nat(999), fc.boolean())
        .map(([device, name, d, withSpec, fp, tampered]): PlannerEvent => {
          const spec = deployment(name, d.score);
          return {
            _tag: "DesiredSet",
            entry: {
              device,
              deployment: name,
              specHash: specHash(spec),
              fingerprint: `rev-${fp}`,
              ...(withSpec ? { spec } : {}),
              ...(tampered ? { tampered: "spec does not hash to its hash" } : {}),
            },
          };
        }),
    },
    { weight: 2, arbitrary: fc.tuple(idArb, nameArb).map(([device, deployment]): PlannerEvent => ({ _tag: "DesiredDeleted", device, deployment })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(idArb, nameArb, fc.constantFrom("Pending" as const, "Running" as const, "Failed" as const))
        .map(([device, deployment, phase]): PlannerEvent => ({ _tag: "ObservedSet", state: { device, deployment, phase, at: NOW } })),
    },
    { weight: 1, arbitrary: fc.tuple(idArb, nameArb).map(([device, deployment]): PlannerEvent => ({ _tag: "ObservedDeleted", device, deployment })) },
    { weight: 1, arbitrary: fc.tuple(idArb, fc.constantFrom("bad JSON", "bad key")).map(([id, why]): PlannerEvent => ({ _tag: "Damaged", id, why })) },
    { weight: 1, arbitrary: idArb.map((id): PlannerEvent => ({ _tag: "Repaired", id })) },
    { weight: 1, arbitrary: worlds.map((world): PlannerEvent => ({ _tag: "WorldReplaced", world })) },
    { weight: 2, arbitrary: timeArb.map((now): PlannerEvent => ({ _tag: "Tick", now })) },
  );

/** Runs the events through a Planner and through the reference fold, comparing the plans after each. */
const agreesWithDiff = (world0: World, reality0: Reality, events: ReadonlyArray<PlannerEvent>): void => {
  const p = planner(world0, reality0, { now: NOW });
  let world = world0;
  let reality = reality0;
  let now = NOW;
  expect(p.plan()).toStrictEqual(diff(world, reality, { now }));
  for (const e of events) {
    p.apply(e);
    reality = realityAfter(reality, e);
    if (e._tag === "WorldReplaced") world = e.world;
    if (e._tag === "Tick") now = e.now;
    const full = diff(world, reality, { now });
    expect(p.plan()).toStrictEqual(full);
    // Same keys in the same order too: a plan printed as JSON is the same text.
    expect(JSON.stringify(p.plan())).toBe(JSON.stringify(full));
    expect(p.summary()).toStrictEqual(full.summary);
  }
};

describe("the incremental Planner equals a full diff of the same inputs", () => {
  it("on worlds with conflicts, redeclared devices and clashing ports and mounts", () =>
    fc.assert(
      fc.property(clashyWorldArb, clashyRealityArb, fc.array(eventArb(clashyWorldArb), { maxLength: 25 }), (w, r, es) => agreesWithDiff(w, r, es)),
      { numRuns: 200 },
    ));

  it("on the diff laws' own inputs", () =>
    fc.assert(fc.property(worldArb, realityArb({ damaged: true }), fc.array(eventArb(worldArb), { maxLength: 25 }), (w, r, es) => agreesWithDiff(w, r, es))));

  it("on worlds with staged rollouts (the plan is then the full diff of the Reality it keeps)", () =>
    fc.assert(
      fc.property(scenarioArb(), fc.array(eventArb(worldArb), { maxLength: 15 }), (sc, es) => agreesWithDiff(worldOf(sc.devices, sc.policy), initialOf(sc), es)),
      { numRuns: 50 },
    ));

  it("a batch of events gives the plan of the events one by one", () =>
    fc.assert(
      fc.property(
        clashyWorldArb,
        clashyRealityArb,
        fc.array(fc.array(eventArb(clashyWorldArb), { maxLength: 8 }), { maxLength: 5 }),
        (w, r, batches) => {
          const p = planner(w, r, { now: NOW });
          let world = w;
          let reality = r;
          let now = NOW;
          for (const batch of batches) {
            p.applyAll(batch);
            for (const e of batch) {
              reality = realityAfter(reality, e);
              if (e._tag === "WorldReplaced") world = e.world;
              if (e._tag === "Tick") now = e.now;
            }
            expect(p.plan()).toStrictEqual(diff(world, reality, { now }));
          }
        },
      ),
      { numRuns: 200 },
    ));

  it("each event's change lists the steps the Planner now holds for those devices", () =>
    fc.assert(
      fc.property(clashyWorldArb, clashyRealityArb, fc.array(eventArb(clashyWorldArb), { maxLength: 15 }), (w, r, es) => {
        const p = planner(w, r, { now: NOW });
        for (const e of es) {
          const change = p.apply(e);
          if (change._tag === "Devices") for (const s of change.steps) expect(p.stepsOf(s.device)).toStrictEqual(s);
        }
        expect([...p.steps()].map((s) => s.device)).toStrictEqual([...new Set(p.plan().actions.map((a) => a.device).concat(p.plan().conflicts.map((c) => c.device), p.plan().skipped.map((s) => s.device)))].sort());
      }),
    ));
});
