/**
 * The laws of the diff engine (BRIEF.md), with `applyPlan` as the reference
 * interpreter, plus one law for each dirty edge.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as O from "fp-ts/lib/Option.js";
import { diff } from "../../src/diff/Diff.ts";
import { applyPlan, stalePreconditions } from "../../src/diff/Apply.ts";
import { reality, type Reality } from "../../src/diff/Reality.ts";
import type { Action, Plan } from "../../src/diff/Plan.ts";
import { declarations, world, type World } from "../../src/world/World.ts";
import { labelKeys, matches } from "../../src/selectors/Selector.ts";
import { device, type Device } from "../../src/algebra/Device.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { memory } from "../../src/interpreters/memory/index.ts";
import { NOW, realityArb, worldArb, conflictFreeWorldArb, IDS, KEYS } from "./arbitraries.ts";
import { desiredView, fleetAndFrozen, offered } from "./model.ts";

const plan = (w: World, r: Reality): Plan => diff(w, r, { now: NOW });
const keyOf = (a: Action): string => `${a.device}.${a.deployment}`;
const shape = (p: Plan): string[] => p.actions.map((a) => `${a._tag} ${keyOf(a)} ${a._tag === "Delete" ? "" : a.specHash}`);
const inputs = fc.tuple(worldArb, realityArb({ damaged: true }));

describe("diff laws", () => {
  it("convergence: diff(W, apply(diff(W, R), R)) is empty", () =>
    fc.assert(fc.property(inputs, ([w, r]) => plan(w, applyPlan(r, plan(w, r))).actions.length === 0)));

  it("idempotence: applying a plan twice equals applying it once", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const p = plan(w, r);
        const once = applyPlan(r, p);
        return JSON.stringify(desiredView(applyPlan(once, p))) === JSON.stringify(desiredView(once));
      }),
    ));

  it("necessity: dropping any action breaks convergence", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const p = plan(w, r);
        return p.actions.every((dropped, i) => {
          const partial = applyPlan(r, { actions: p.actions.filter((_, j) => j !== i) });
          return plan(w, partial).actions.some((a) => keyOf(a) === keyOf(dropped));
        });
      }),
    ));

  it("soundness: after apply, no device holds a deployment no assignment gives it", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const after = applyPlan(r, plan(w, r));
        const { devices, frozen } = fleetAndFrozen(w, r);
        const inFleet = new Map(devices.map((d) => [d.id as string, d]));
        for (const [id, entries] of after.desired) {
          if (frozen.has(id)) continue; // left exactly as it was
          const d = inFleet.get(id);
          if (d === undefined) return false; // a device outside the fleet keeps nothing
          const given = offered(w, d);
          for (const [name, e] of entries) {
            const hashes = given.get(name);
            if (hashes === undefined) return false;
            // a conflicted name is left as published; otherwise it must be the one spec given
            if (hashes.size === 1 && !hashes.has(e.specHash)) return false;
          }
        }
        return true;
      }),
    ));

  it("completeness: every (device, deployment) the World assigns is present", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const after = applyPlan(r, plan(w, r));
        const { devices, frozen } = fleetAndFrozen(w, r);
        return devices
          .filter((d) => !frozen.has(d.id))
          .every((d) =>
            [...offered(w, d)].every(([name, hashes]) => hashes.size > 1 || after.desired.get(d.id)?.get(name as never)?.specHash === [...hashes][0]),
          );
      }),
    ));

  it("monotonicity: removing a label only changes assignments that read it", () =>
    fc.assert(
      fc.property(worldArb, fc.constantFrom(...KEYS), (w, key) => {
        const declared = declarations(w);
        if (O.isNone(declared)) return true;
        const fleet = declared.value;
        return fleet.every((d, i) => {
          const { [key]: _removed, ...rest } = d.labels;
          const d2 = device(d.id, { labels: rest, arch: d.arch });
          const w2 = world({ fleet: fleet.map((x, j) => (j === i ? d2 : x)), assignments: w.assignments });
          // assignment level: a verdict can only change for selectors that read the key
          const verdicts = w.assignments.every((a) => matches(a.selector)(d) === matches(a.selector)(d2) || labelKeys(a.selector).includes(key));
          // plan level: converging to W then moving to W2 only touches that device's deployments given by such assignments
          const r1 = applyPlan(reality({}), plan(w, reality({})));
          const readers = new Set(w.assignments.filter((a) => labelKeys(a.selector).includes(key)).flatMap((a) => a.deployments.map((x) => x.name as string)));
          const touched = plan(w2, r1).actions.every((a) => a.device === d.id && readers.has(a.deployment));
          return verdicts && touched;
        });
      }),
    ));

  it("locality: the diff of a sharded fleet is the union of the shards' diffs", () =>
    fc.assert(
      fc.property(inputs, fc.subarray<string>([...IDS]), ([w, r], shardA) => {
        const inA = (id: string): boolean => shardA.includes(id);
        const restrict = (keep: (id: string) => boolean): [World, Reality] => [
          O.isNone(w.fleet) ? w : world({ fleet: O.getOrElse((): ReadonlyArray<Device> => [])(declarations(w)).filter((d) => keep(d.id)), assignments: w.assignments }),
          {
            devices: new Map([...r.devices].filter(([id]) => keep(id))),
            desired: new Map([...r.desired].filter(([id]) => keep(id))),
            observed: new Map([...r.observed].filter(([id]) => keep(id))),
            damaged: new Map([...r.damaged].filter(([id]) => keep(id))),
          },
        ];
        const a = plan(...restrict(inA));
        const b = plan(...restrict((id) => !inA(id)));
        const whole = plan(w, r);
        const union = [...a.actions, ...b.actions].sort((x, y) => (keyOf(x) < keyOf(y) ? -1 : 1));
        return JSON.stringify(union) === JSON.stringify(whole.actions) && a.conflicts.length + b.conflicts.length === whole.conflicts.length;
      }),
    ));

  it("determinism: equal inputs give equal plans in the same order, whatever the insertion order", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const reversed: Reality = {
          devices: new Map([...r.devices].reverse()),
          desired: new Map([...r.desired].reverse().map(([id, m]) => [id, new Map([...m].reverse())])),
          observed: r.observed,
          damaged: new Map([...r.damaged].reverse()),
        };
        const w2 = world({ ...O.match(() => ({}), (ds: ReadonlyArray<Device>) => ({ fleet: [...ds].reverse() }))(declarations(w)), assignments: [...w.assignments].reverse() });
        return JSON.stringify(plan(w, r)) === JSON.stringify(plan(w, r)) && JSON.stringify(plan(w2, reversed)) === JSON.stringify(plan(w, r));
      }),
    ));

  it("minimality: an entry already as desired is never touched", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) =>
        plan(w, r).actions.every((a) => a._tag !== "Update" || a.previous.specHash !== a.specHash),
      ),
    ));

  it("actions are in canonical order, one per key", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const keys = plan(w, r).actions.map(keyOf);
        return keys.every((k, i) => i === 0 || (keys[i - 1] as string) < k);
      }),
    ));
});

describe("dirty edges", () => {
  it("offline devices: heartbeats change only the presence notes, never the actions", () =>
    fc.assert(
      fc.property(inputs, fc.integer({ min: 0, max: 10_000_000 }), ([w, r], shift) => {
        const later = diff(w, r, { now: new Date(NOW.getTime() + shift) });
        return JSON.stringify(shape(later)) === JSON.stringify(shape(plan(w, r)));
      }),
    ));

  // Every deployment of worldArb is Immediate: for them observed state changes nothing, exactly. For staged
  // rollouts it changes *when* a device receives its spec, never *what* (test/laws/rollout.test.ts, law 11).
  it("failed reports never change the plan (Immediate worlds)", () =>
    fc.assert(
      fc.property(inputs, realityArb(), ([w, r], other) => {
        const withOtherReports: Reality = { ...r, observed: other.observed };
        return JSON.stringify(plan(w, withOtherReports)) === JSON.stringify(plan(w, r));
      }),
    ));

  it("damaged devices get no action, and do not change the others' actions", () =>
    fc.assert(
      fc.property(worldArb, realityArb(), fc.subarray<string>([...IDS], { minLength: 1 }), (w, r, bad) => {
        const damaged: Reality = { ...r, damaged: new Map(bad.map((id) => [id as DeviceId, "unreadable"])) };
        const p = plan(w, damaged);
        const clean = plan(w, r).actions.filter((a) => !bad.includes(a.device));
        return p.actions.every((a) => !bad.includes(a.device)) && JSON.stringify(p.actions) === JSON.stringify(clean);
      }),
    ));

  it("interrupted apply: re-planning after any subset of a plan gives exactly the remainder", () =>
    fc.assert(
      fc.property(inputs, fc.infiniteStream(fc.boolean()), ([w, r], coin) => {
        const p = plan(w, r);
        const mask = p.actions.map(() => coin.next().value as boolean);
        const done = p.actions.filter((_, i) => mask[i]);
        const remaining = p.actions.filter((_, i) => !mask[i]);
        const again = plan(w, applyPlan(r, { actions: done }));
        return JSON.stringify(shape(again)) === JSON.stringify(shape({ ...p, actions: remaining }));
      }),
    ));

  it("concurrent applies: the second of two plans from one Reality is refused whole or applies whole", async () => {
    await fc.assert(
      fc.asyncProperty(conflictFreeWorldArb, conflictFreeWorldArb, realityArb(), async (w1, w2, r) => {
        const m = memory(r);
        const p1 = plan(w1, r);
        const p2 = plan(w2, r);
        const first = await m.apply(p1);
        const before = desiredView(m.snapshot());
        const mustRefuse = stalePreconditions(m.snapshot(), p2).length > 0;
        const second = await m.apply(p2);
        const after = m.snapshot();
        if (first._tag !== "Completed") return false;
        if (mustRefuse !== (second._tag === "Stale")) return false;
        if (second._tag === "Stale") return JSON.stringify(desiredView(after)) === JSON.stringify(before);
        // applied whole: every action of p2 is reflected
        const allIn = p2.actions.every((a) => (a._tag === "Delete" ? after.desired.get(a.device)?.get(a.deployment) === undefined : after.desired.get(a.device)?.get(a.deployment)?.specHash === a.specHash));
        // and re-planning the second world from the new reality converges
        const settle = await m.apply(plan(w2, m.snapshot()));
        return allIn && settle._tag === "Completed" && plan(w2, m.snapshot()).actions.length === 0;
      }),
      { numRuns: 60 },
    );
  });

  it("a plan is stale exactly when an entry it touches changed", () =>
    fc.assert(
      fc.property(inputs, ([w, r]) => {
        const p = plan(w, r);
        if (stalePreconditions(r, p).length !== 0) return false;
        const after = applyPlan(r, p);
        // every non-trivial action's precondition is now false (entries changed under it)
        return stalePreconditions(after, p).length === p.actions.filter((a) => a._tag !== "Update" || a.previous.fingerprint !== a.specHash).length;
      }),
    ));
});

describe("examples", () => {
  it("removing a label removes the assignment that depended on it", async () => {
    const { label } = await import("../../src/selectors/Selector.ts");
    const { assign } = await import("../../src/world/Assignment.ts");
    const { deployment, podman } = await import("../../src/algebra/Deployment.ts");
    const web = deployment("web", podman({ services: [{ name: "main", image: "web:1" }] }));
    const on: Device = device("pi-01", { labels: { env: "prod" } });
    const w1 = world({ fleet: [on], assignments: [assign(label("env", "prod"), web)] });
    const r1 = applyPlan(reality({}), plan(w1, reality({})));
    const w2 = world({ fleet: [device("pi-01")], assignments: [assign(label("env", "prod"), web)] });
    expect(shape(plan(w2, r1))).toEqual(["Delete pi-01.web "]);
  });
});
