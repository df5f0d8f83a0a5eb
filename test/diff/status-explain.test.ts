/**
 * Status and explain say what the diff says: devices the diff leaves alone
 * (unreadable records, declared twice, clashing deployments) are counted and
 * explained as left alone, never as changed.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { device } from "../../src/algebra/Device.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import { explainDevice } from "../../src/diff/DeviceExplanation.ts";
import { reality } from "../../src/diff/Reality.ts";
import { status } from "../../src/diff/Status.ts";
import { all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { clashyRealityArb, clashyWorldArb, IDS, NOW } from "../laws/arbitraries.ts";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));
const id = (s: string) => s as DeviceId;

describe("damaged devices", () => {
  // Ten devices registered, six of them with a record that cannot be read.
  const ids = Array.from({ length: 10 }, (_, i) => `pi-${i}`);
  const r = reality({
    devices: ids.map((i) => ({ device: device(i), lastHeartbeat: NOW })),
    damaged: ids.slice(4).map((i) => [id(i), "bad JSON"] as const),
  });
  const w = world({ assignments: [assign(all, web)] });

  it("status counts them, with why, and counts them for no deployment", () => {
    const st = status(w, r, { now: NOW });
    expect(st.devices.map((d) => d.device)).toEqual(ids);
    expect(st.devices.filter((d) => d.leftAlone !== undefined).map((d) => [d.device, d.leftAlone])).toEqual(ids.slice(4).map((i) => [i, "unreadable record: bad JSON"]));
    expect(st.deployments).toMatchObject([{ deployment: "web", matched: 4 }]);
  });

  it("status lists a damaged device that could not even register", () => {
    const unregistered = reality({ devices: [{ device: device("pi-0"), lastHeartbeat: NOW }], damaged: [[id("pi-9"), "device-info: bad JSON"]] });
    expect(status(w, unregistered, { now: NOW }).devices.map((d) => [d.device, d.presence, d.leftAlone])).toEqual([
      ["pi-0", "online", undefined],
      ["pi-9", "unregistered", "unreadable record: device-info: bad JSON"],
    ]);
  });

  it("explain says the diff leaves it alone, and never that apply creates anything", () => {
    const x = explainDevice(w, r, id("pi-7"), { now: NOW });
    if (E.isLeft(x)) throw new Error("pi-7 is registered");
    expect(x.right.leftAlone).toBe("unreadable record: bad JSON");
    expect(x.right.names).toEqual([{ deployment: "web", desired: expect.anything(), fate: { _tag: "LeftAlone", why: "unreadable record: bad JSON" } }]);
  });
});

describe("explain agrees with the diff", () => {
  it("the actions explain gives a device are exactly the plan's actions for it", () =>
    fc.assert(
      fc.property(clashyWorldArb, clashyRealityArb, (w, r) => {
        const plan = diff(w, r, { now: NOW });
        const skipped = new Set(plan.skipped.map((s) => s.device));
        return IDS.every((i) => {
          const x = explainDevice(w, r, id(i), { now: NOW });
          const planned = plan.actions.filter((a) => a.device === i);
          if (E.isLeft(x)) return planned.every((a) => a._tag === "Delete" && a.reason._tag === "DeviceRemoved") && !(w.fleet._tag === "Some" && w.fleet.value.byId.has(id(i)));
          const acts = x.right.names.flatMap((n) => (n.fate._tag === "Act" ? [n.fate.action] : []));
          return JSON.stringify(acts) === JSON.stringify(planned) && (x.right.leftAlone !== undefined) === skipped.has(id(i));
        });
      }),
    ));
});

describe("health in status", () => {
  const checked = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4", healthcheck: { command: "true" } }] }));
  const hash = specHash(checked);
  const ids = ["pi-0", "pi-1", "pi-2", "pi-3"];
  const healths = ["healthy", "unhealthy", "starting", undefined] as const;
  const r = reality({
    devices: ids.map((i) => ({ device: device(i), lastHeartbeat: NOW })),
    observed: ids.map((i, n) => {
      const h = healths[n];
      return { device: id(i), deployment: checked.name, phase: "Running" as const, specHash: hash, at: NOW, ...(h !== undefined ? { health: h } : {}) };
    }),
  });

  it("available means healthy: unhealthy is counted apart from succeeded, starting or unreported is pending, and each device row says its health", () => {
    const st = status(world({ assignments: [assign(all, checked)] }), r, { now: NOW });
    expect(st.deployments).toMatchObject([{ deployment: "web", matched: 4, succeeded: 1, unhealthy: 1, pending: 2, failed: 0, offline: 0 }]);
    expect(st.devices.map((d) => d.deployments[0]?.health)).toEqual(["healthy", "unhealthy", "starting", undefined]);
  });
});
