/**
 * The program layer over the in-memory reference interpreter: plan builds
 * the World against the registered inventory; apply refuses conflicts and a
 * declined confirmation without writing, reports every outcome and refuses a
 * stale plan; a saved plan is bound to its backend, Reality and World, and
 * any edit of its actions is refused.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { device, type Device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import type { Action } from "../../src/diff/Plan.ts";
import { memory } from "../../src/interpreters/memory/index.ts";
import { all, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { apply } from "../../src/program/Apply.ts";
import { rollout } from "../../src/world/Rollout.ts";
import { bindSavedPlan, type SavedPlan } from "../../src/program/Binding.ts";
import { plan } from "../../src/program/Plan.ts";
import { deviceStatus, fleetStatus } from "../../src/program/Status.ts";

const now = new Date("2026-12-01T08:00:00Z");
const web = (image: string) => deployment("web", podman({ services: [{ name: "httpd", image }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "exporter:1" }] }));
const w1 = world({ assignments: [assign(label("env", "prod"), web("httpd:1")), assign(all, metrics)] });

const registered = () => {
  const m = memory();
  m.register(device("pi-01", { labels: { env: "prod" } }), now);
  m.register(device("pi-02", { labels: { env: "prod" } }), now);
  m.register(device("nuc-01", { labels: { env: "dev" } }), now);
  return m;
};

const saveOf = async (m: ReturnType<typeof memory>, w: World): Promise<SavedPlan> => {
  const p = await plan(m, w, { now });
  return { createdAt: now, fleetVersion: "test", files: [], cwd: "/", world: p.world, worldHash: p.worldHash, reality: p.realityDigest, backend: "memory", now, plan: p.plan };
};

describe("program: plan and apply", () => {
  it("plans against the inventory, applies, and re-plans to nothing", async () => {
    const m = registered();
    let seen: ReadonlyArray<Device> = [];
    const p = await plan(m, (inventory) => ((seen = inventory), w1), { now });
    expect(seen.map((d) => d.id)).toEqual(["nuc-01", "pi-01", "pi-02"]);
    expect(p.plan.summary.create).toBe(5);
    expect(p.warnings).toEqual([]);
    const r = await apply(m, p);
    expect(r._tag === "Completed" && r.counts).toEqual({ created: 5, updated: 0, deleted: 0, failed: 0 });
    expect((await plan(m, w1, { now })).plan.actions).toEqual([]);
  });

  it("asks only when there is something to do; a no leaves Reality as it was", async () => {
    const m = registered();
    const asked: number[] = [];
    const no = async (pl: { actions: ReadonlyArray<Action> }) => (asked.push(pl.actions.length), false);
    expect(await apply(m, await plan(m, w1, { now }), { confirm: no })).toEqual({ _tag: "Cancelled" });
    expect(m.snapshot().desired.size).toBe(0);
    await apply(m, await plan(m, w1, { now }));
    expect((await apply(m, await plan(m, w1, { now }), { confirm: no }))._tag).toBe("Completed");
    expect(asked).toEqual([5]);
  });

  it("refuses conflicts, and a plan made stale by another apply, writing nothing", async () => {
    const m = registered();
    const conflicting = world({ assignments: [assign(all, web("a:1")), assign(label("env", "prod"), web("b:1"))] });
    const c = await apply(m, await plan(m, conflicting, { now }));
    expect(c._tag === "Conflicts" && c.conflicts.length).toBe(2);
    expect(m.snapshot().desired.size).toBe(0);
    const p = await plan(m, w1, { now });
    await apply(m, await plan(m, w1, { now }));
    const before = m.snapshot();
    expect((await apply(m, p))._tag).toBe("Stale");
    expect(m.snapshot()).toBe(before);
  });

  it("applies a staged rollout's step with its ledger; refuses a plan whose rollout has problems, writing nothing", async () => {
    const m = registered();
    await apply(m, await plan(m, w1, { now }));
    const staged = (policy: Parameters<typeof rollout>[0]) =>
      world({ assignments: [assign(label("env", "prod"), deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2" }] }), { rollout: rollout(policy) })), assign(all, metrics)] });
    const bad = await plan(m, staged({ waves: [{ selector: "site=nowhere" }] }), { now });
    expect(bad.plan.rollouts?.[0]?.problems.length ?? 0).toBeGreaterThan(0);
    const before = m.snapshot();
    const refused = await apply(m, bad);
    expect(refused._tag).toBe("RolloutProblems");
    expect(refused._tag === "RolloutProblems" && refused.problems[0]).toMatch(/^web: /);
    expect(m.snapshot()).toBe(before);
    const good = await plan(m, staged({ waves: [1] }), { now });
    expect(good.plan.ledger?.length ?? 0).toBeGreaterThan(0);
    expect((await apply(m, good))._tag).toBe("Completed");
    expect(m.snapshot().rollouts?.size).toBe(1);
  });

  it("status: per deployment, and per device or why not", async () => {
    const m = registered();
    await apply(m, await plan(m, w1, { now }));
    const s = await fleetStatus(m, w1, { now });
    expect(s.status.deployments.map((d) => [d.deployment, d.matched])).toEqual([["metrics", 3], ["web", 2]]);
    expect(E.isRight(deviceStatus(s, "pi-01" as DeviceId))).toBe(true);
    expect(deviceStatus(s, "ghost" as DeviceId)).toEqual(E.left({ _tag: "NotInFleet", device: "ghost" }));
  });
});

describe("program: saved-plan binding", () => {
  it("an unedited plan binds, with or without its fleet files", async () => {
    const m = registered();
    const s = await saveOf(m, w1);
    const bound = await bindSavedPlan(m, s, { backend: "memory" });
    expect(E.isRight(bound) && bound.right.filesChecked).toBe(false);
    const checked = await bindSavedPlan(m, s, { backend: "memory", reload: async () => w1 });
    expect(E.isRight(checked) && checked.right.filesChecked).toBe(true);
    if (E.isRight(checked)) expect(checked.right.planned.plan.actions).toEqual(s.plan.actions);
  });

  it("refuses another backend, a changed Reality, changed or broken fleet files, an edited World", async () => {
    const m = registered();
    const s = await saveOf(m, w1);
    const tag = async (x: Parameters<typeof bindSavedPlan>[2], saved = s) => {
      const r = await bindSavedPlan(m, saved, x);
      return E.isLeft(r) ? r.left._tag : "bound";
    };
    expect(await tag({ backend: "elsewhere" })).toBe("WrongBackend");
    expect(await tag({ backend: "memory", reload: async () => world({ assignments: [assign(all, metrics)] }) })).toBe("FleetFilesChanged");
    expect(await tag({ backend: "memory", reload: () => Promise.reject(new Error("syntax")) })).toBe("FleetFilesUnloadable");
    expect(await tag({ backend: "memory", reload: async () => undefined })).toBe("bound");
    expect(await tag({ backend: "memory" }, { ...s, world: world({ assignments: [assign(all, metrics)] }) })).toBe("WorldEdited");
    m.register(device("pi-03", { labels: { env: "prod" } }), now);
    expect(await tag({ backend: "memory" })).toBe("RealityChanged");
  });

  it("any edit of the actions is refused: a spec changed with its hash, an action dropped, added or moved to another device", async () => {
    const m = registered();
    const s = await saveOf(m, w1);
    const evil = web("evil:1");
    const edits = (actions: ReadonlyArray<Action>): fc.Arbitrary<ReadonlyArray<Action>> =>
      fc.nat({ max: actions.length - 1 }).chain((i) => {
        const a = actions[i] as Action;
        return fc.constantFrom<ReadonlyArray<Action>>(
          actions.filter((_, j) => j !== i),
          actions.map((x, j) => (j === i && x._tag !== "Delete" ? { ...x, spec: evil, specHash: specHash(evil) } : x)),
          [...actions, { ...a, device: "zz-99" as DeviceId }],
          actions.map((x, j) => (j === i ? { ...x, device: "zz-98" as DeviceId } : x)),
        );
      });
    await fc.assert(
      fc.asyncProperty(edits(s.plan.actions), async (edited) => {
        const r = await bindSavedPlan(m, { ...s, plan: { ...s.plan, actions: edited } }, { backend: "memory" });
        return E.isLeft(r) && r.left._tag === "ActionsDiffer";
      }),
    );
    expect(m.snapshot().desired.size).toBe(0);
  });
});
