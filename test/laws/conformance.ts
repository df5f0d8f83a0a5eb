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
 * - random sequences of worlds converge exactly like the reference.
 */
import { beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Device } from "../../src/algebra/Device.ts";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { desiredEntries, type DesiredEntry } from "../../src/diff/Reality.ts";
import { label, arch, all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { diff } from "../../src/diff/Diff.ts";
import type { Action, Plan } from "../../src/diff/Plan.ts";
import type { Interpreter } from "../../src/interpreters/Interpreter.ts";
import { memory } from "../../src/interpreters/memory/index.ts";
import { conflictFreeWorldArb, devicesArb } from "./arbitraries.ts";
import { desiredView } from "./model.ts";

export interface ConformanceSubject {
  readonly interpreter: Interpreter;
  /** Registers devices as agents would (device info and a heartbeat at `at`). */
  register(devices: ReadonlyArray<Device>, at: Date): Promise<void>;
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
