/**
 * The interpreter conformance suite: every backend must behave like the
 * in-memory reference (`memory()`) on the same sequence of plans.
 *
 * Usage, inside a `describe` whose `beforeAll` starts the real server:
 *
 *   let subject: ConformanceSubject;
 *   beforeAll(async () => { subject = await makeSubject(); });
 *   conformanceSuite("nats", () => subject);
 *
 * What it checks, against a freshly `reset()` backend each time:
 * - registered devices appear in Reality with their labels and arch;
 * - apply then read converges (re-planning is empty) and the published
 *   entries equal the reference's;
 * - every action gets exactly one outcome, in plan order;
 * - updates and deletes converge, and nothing is left behind;
 * - a stale plan is refused as a whole: nothing of it is written;
 * - an interrupted apply re-plans to exactly its remainder;
 * - an entry whose stored spec was edited behind the interpreter's back
 *   (its stated hash kept) is read as tampered, the plan republishes it,
 *   and the apply repairs it;
 * - random sequences of worlds converge exactly like the reference;
 * - a staged rollout's ledger records and entry priors survive apply → read,
 *   and a 3-wave rollout driven plan → apply → report reaches the World.
 */
import { beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Device } from "../../src/algebra/Device.ts";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { desiredEntries, type DesiredEntry, type ObservedState } from "../../src/diff/Reality.ts";
import { label, arch, all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { diff } from "../../src/diff/Diff.ts";
import { isEmptyPlan, type Action, type Plan } from "../../src/diff/Plan.ts";
import { encodeRecord } from "../../src/diff/Ledger.ts";
import { rollout } from "../../src/world/Rollout.ts";
import type { Interpreter } from "../../src/interpreters/Interpreter.ts";
import { memory } from "../../src/interpreters/memory/index.ts";
import { conflictFreeWorldArb, devicesArb } from "./arbitraries.ts";
import { desiredView } from "./model.ts";

export interface ConformanceSubject {
  readonly interpreter: Interpreter;
  /** Registers devices as agents would (device info and a heartbeat at `at`). */
  register(devices: ReadonlyArray<Device>, at: Date): Promise<void>;
  /** Reports observed state as agents would. */
  report(states: ReadonlyArray<ObservedState>): Promise<void>;
  /** Deletes everything the interpreter and `register` wrote. */
  reset(): Promise<void>;
  /**
   * As a foreign writer would (another client of the store, another field manager): stores `forged` as
   * the spec of the published `entry`, keeping the hash the entry states, in the backend's own store.
   */
  tamper(entry: DesiredEntry, forged: Deployment): Promise<void>;
}

export interface ConformanceOptions {
  /** Cases of the random-sequence property (each case is several real applies). Default 5. */
  readonly numRuns?: number;
  /** `false`: the backend keeps no rollout ledgers, and must refuse a staged rollout's step whole (nothing written). Default true. */
  readonly ledgers?: boolean;
}

const shape = (actions: ReadonlyArray<Action>): string[] =>
  actions.map((a) => `${a._tag} ${a.device}.${a.deployment} ${a._tag === "Delete" ? "" : a.specHash}`);

const web = (image: string) => deployment("web", podman({ services: [{ name: "httpd", image, ports: [{ container: 80, host: 8080 }] }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));

const fleet: ReadonlyArray<Device> = [
  device("pi-01", { labels: { env: "prod", site: "north" }, arch: "aarch64" }),
  device("pi-02", { labels: { env: "prod", site: "south" }, arch: "aarch64" }),
  device("nuc-01", { labels: { env: "dev" }, arch: "x86_64" }),
];

const v1: World = world({ assignments: [assign(label("env", "prod"), web("registry.local/web:1")), assign(arch("aarch64"), metrics)] });
const v2: World = world({
  assignments: [assign(label("env", "prod"), web("registry.local/web:2")), assign(label("site", "north"), metrics), assign(label("env", "dev"), web("registry.local/web:1"))],
});
const nothing: World = world({ assignments: [] });

/** Three waves of one device each (two count waves, then the rest), gate 100 %. */
const staged = (image: string) =>
  deployment("web", podman({ services: [{ name: "httpd", image }] }), { rollout: rollout({ waves: [1, 1], successThreshold: 100 }) });
const stagedV1: World = world({ assignments: [assign(all, staged("registry.local/web:1"))] });
const stagedV2: World = world({ assignments: [assign(all, staged("registry.local/web:2"))] });

export const conformanceSuite = (name: string, subject: () => ConformanceSubject, options: ConformanceOptions = {}): void => {
  describe(`${name}: conformance with the in-memory reference`, () => {
    const now = (): Date => new Date();
    const read = async () => {
      const r = await subject().interpreter.read();
      expect(r.problems).toEqual([]);
      return r.reality;
    };
    const planFor = async (w: World): Promise<Plan> => diff(w, await read(), { now: now() });
    const applyOk = async (p: Pick<Plan, "actions">) => {
      const result = await subject().interpreter.apply(p);
      expect(result._tag).toBe("Completed");
      if (result._tag === "Completed") {
        expect(result.outcomes.filter((o) => o._tag === "Failed")).toEqual([]);
      }
      return result;
    };

    beforeEach(async () => {
      await subject().reset();
      await subject().register(fleet, now());
    });

    it("registered devices appear in Reality with their labels and arch", async () => {
      const r = await read();
      for (const d of fleet) {
        const got = r.devices.get(d.id);
        expect(got?.device.labels).toEqual({ ...d.labels });
        expect(got?.device.arch).toBe(d.arch);
      }
    });

    it("apply then read converges, with the reference's entries", async () => {
      const p = await planFor(v1);
      expect(p.actions.length).toBeGreaterThan(0);
      await applyOk(p);
      const after = await read();
      expect(diff(v1, after, { now: now() }).actions).toEqual([]);
      const ref = memory();
      for (const d of fleet) ref.register(d, now());
      await ref.apply(diff(v1, ref.snapshot(), { now: now() }));
      expect(desiredView(after)).toEqual(desiredView(ref.snapshot()));
    });

    it("every action gets exactly one outcome, in plan order", async () => {
      const p = await planFor(v1);
      const result = await applyOk(p);
      if (result._tag === "Completed") expect(result.outcomes.map((o) => o.action)).toEqual(p.actions);
    });

    it("updates and deletes converge, and nothing is left behind", async () => {
      await applyOk(await planFor(v1));
      const p2 = await planFor(v2);
      expect(p2.actions.map((a) => a._tag).sort()).toEqual(expect.arrayContaining(["Create", "Delete", "Update"]));
      await applyOk(p2);
      expect((await planFor(v2)).actions).toEqual([]);
      await applyOk(await planFor(nothing));
      const empty = await read();
      expect(desiredView(empty)).toEqual([]);
    });

    it("refuses a stale plan as a whole", async () => {
      await applyOk(await planFor(v1));
      const stale = await planFor(v2); // computed now, applied after someone else's change
      await applyOk(await planFor(world({ assignments: [assign(all, web("registry.local/web:3"))] })));
      const before = desiredView(await read());
      const result = await subject().interpreter.apply(stale);
      expect(result._tag).toBe("Stale");
      expect(desiredView(await read())).toEqual(before);
    });

    it("refuses a create whose entry appeared meanwhile", async () => {
      const p = await planFor(v1);
      await applyOk(p);
      const result = await subject().interpreter.apply(p);
      expect(result._tag).toBe("Stale");
    });

    it("an interrupted apply re-plans to exactly its remainder", async () => {
      await applyOk(await planFor(v1));
      const p = await planFor(v2);
      const half = Math.ceil(p.actions.length / 2);
      await applyOk({ actions: p.actions.slice(0, half) });
      const again = await planFor(v2);
      expect(shape(again.actions)).toEqual(shape(p.actions.slice(half)));
    });

    it("an entry whose stored spec was edited behind its back is read as tampered, republished and repaired", async () => {
      await applyOk(await planFor(v2));
      // nuc-01's web:1 is the only entry with its spec (a content-addressed store shares a spec between entries).
      const target = (await read()).desired.get("nuc-01" as DeviceId)?.get("web" as DeploymentName);
      expect(target?.specHash).toBe(specHash(web("registry.local/web:1")));
      await subject().tamper(target as DesiredEntry, web("evil.example/web:1"));

      // A backend may also report the untrusted spec as a problem; the device is not damaged.
      const { reality } = await subject().interpreter.read();
      expect(reality.damaged.size).toBe(0);
      const tampered = [...desiredEntries(reality)].filter((e) => e.tampered !== undefined);
      expect(tampered.map((e) => `${e.device}.${e.deployment} ${e.specHash}`)).toEqual([`nuc-01.web ${target?.specHash ?? ""}`]);
      expect(tampered[0]?.tampered).toMatch(/hash/);
      const repair = diff(v2, reality, { now: now() });
      expect(repair.actions.map((a) => `${a._tag} ${a.device}.${a.deployment} ${a._tag === "Update" ? (a.repair ?? "") : ""}`)).toEqual([
        `Update nuc-01.web ${tampered[0]?.tampered ?? ""}`,
      ]);
      await applyOk(repair);
      const after = await read();
      expect([...desiredEntries(after)].filter((e) => e.tampered !== undefined)).toEqual([]);
      expect(diff(v2, after, { now: now() }).actions).toEqual([]);
      const ref = memory();
      for (const d of fleet) ref.register(d, now());
      await ref.apply(diff(v2, ref.snapshot(), { now: now() }));
      expect(desiredView(after)).toEqual(desiredView(ref.snapshot()));
    });

    /** Every agent reports Running at the spec its entry holds. */
    const reportAll = async (): Promise<void> => {
      const r = await read();
      const at = now();
      await subject().report([...desiredEntries(r)].map((e) => ({ device: e.device, deployment: e.deployment, phase: "Running", specHash: e.specHash, at })));
    };

    if (options.ledgers === false) {
      it("refuses a staged rollout's step whole, with a clear error, writing nothing", async () => {
        await applyOk(await planFor(v1));
        const before = desiredView(await read());
        const p = await planFor(stagedV2);
        expect(p.ledger?.length ?? 0).toBeGreaterThan(0);
        await expect(subject().interpreter.apply(p)).rejects.toThrow(/rollout/);
        expect(desiredView(await read())).toEqual(before);
      });
    } else {
    it("a staged rollout's ledger records and entry priors survive apply → read", async () => {
      await applyOk(await planFor(stagedV1)); // no entries before: the rollout of web:1 starts
      const before = await read();
      const p = await planFor(stagedV2);
      expect(p.ledger?.length ?? 0).toBeGreaterThan(0);
      const staging = p.actions.filter((a) => a._tag !== "Delete" && a.prior !== undefined);
      expect(staging.length).toBeGreaterThan(0);
      await applyOk(p);
      const after = await read();
      for (const w of p.ledger ?? []) {
        if (w._tag === "Put") expect(encodeRecord(after.rollouts?.get(`${w.record.deployment}@${w.record.target}` as never) as never)).toEqual(encodeRecord(w.record));
        else expect(after.rollouts?.has(w.key) ?? false).toBe(false);
      }
      for (const a of staging) {
        const e = after.desired.get(a.device)?.get(a.deployment);
        expect(e?.prior).toBe(a._tag === "Delete" ? undefined : a.prior);
        expect(e?.prior).toBe(before.desired.get(a.device)?.get(a.deployment)?.specHash ?? null);
      }
      // Re-planning from what was read gives what re-planning from the reference gives.
      const ref = memory(before);
      await ref.apply(p);
      expect(shape(diff(stagedV2, after, { now: now() }).actions)).toEqual(shape(diff(stagedV2, ref.snapshot(), { now: now() }).actions));
    });

    it("a 3-wave rollout driven plan → apply → report reaches the World", async () => {
      for (const w of [stagedV1, stagedV2]) {
        let steps = 0;
        for (;;) {
          await reportAll();
          const p = await planFor(w);
          expect(p.rollouts?.flatMap((r) => r.problems) ?? []).toEqual([]);
          if (isEmptyPlan(p) && (p.rollouts ?? []).every((r) => r.state === "Complete")) break;
          expect(p.rollouts?.some((r) => r.state === "Paused" || r.state === "RolledBack") ?? false).toBe(false);
          await applyOk(p);
          expect(++steps).toBeLessThanOrEqual(3 + 2);
        }
        const r = await read();
        expect(diff(w, r, { now: now() }).actions).toEqual([]);
        const target = w === stagedV1 ? "registry.local/web:1" : "registry.local/web:2";
        for (const d of fleet) {
          const e = r.desired.get(d.id)?.get("web" as never);
          expect(e?.spec?.score._tag === "PodmanV0" ? e.spec.score.services[0]?.image : e?.specHash).toBe(target);
        }
      }
    });

    }

    it("random sequences of worlds converge exactly like the reference", async () => {
      await fc.assert(
        fc.asyncProperty(devicesArb(5), fc.array(conflictFreeWorldArb, { minLength: 1, maxLength: 3 }), async (devices, worlds) => {
          await subject().reset();
          const at = now();
          await subject().register(devices, at);
          const ref = memory();
          for (const d of devices) ref.register(d, at);
          for (const w0 of worlds) {
            const w = world({ assignments: w0.assignments }); // the registered devices are the fleet
            const p = diff(w, (await subject().interpreter.read()).reality, { now: now() });
            const result = await subject().interpreter.apply(p);
            if (result._tag !== "Completed" || result.outcomes.some((o) => o._tag === "Failed")) return false;
            await ref.apply(diff(w, ref.snapshot(), { now: now() }));
            const got = (await subject().interpreter.read()).reality;
            if (JSON.stringify(desiredView(got)) !== JSON.stringify(desiredView(ref.snapshot()))) return false;
            if (diff(w, got, { now: now() }).actions.length !== 0) return false;
          }
          return true;
        }),
        { numRuns: options.numRuns ?? 5 },
      );
    });
  });
};
