/**
 * Tamper on read against a real kube-apiserver: another field manager edits
 * the spec inside a Device's desired entry and keeps its specHash; the read
 * does not trust it, the plan republishes it, and the apply restores it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { diff } from "../../src/diff/Diff.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { startCluster, type TestCluster } from "./cluster.ts";

const web = deployment("web", podman({ services: [{ name: "api", image: "registry.local/api:1" }] }));
const W = world({ fleet: [device("kd-02", { labels: { env: "prod" } })], assignments: [assign(label("env", "prod"), web)] });

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

/** Replaces every `image` value under `u` (the foreign edit). */
const editImages = (u: unknown): unknown =>
  Array.isArray(u)
    ? u.map(editImages)
    : typeof u === "object" && u !== null
      ? Object.fromEntries(Object.entries(u).map(([k, v]) => [k, k === "image" ? "evil.example/api:latest" : editImages(v)]))
      : u;

describe("tampered desired entries on Kubernetes", () => {
  it("an image edited by another field manager (specHash kept) is a repair in the plan and is restored by apply", async () => {
    const ns = await cluster.namespace("tamper");
    const k = await cluster.interpreter(ns);
    try {
      const now = new Date();
      expect((await k.apply(diff(W, (await k.read()).reality, { now })))._tag).toBe("Completed");

      const obj = JSON.parse(await cluster.kubectl(["get", "device", "kd-02", "-n", ns, "-o", "json"])) as { spec: { deployments: Array<Record<string, unknown>> } };
      const entry = obj.spec.deployments[0] as Record<string, unknown>;
      const edited = { ...obj, spec: { ...obj.spec, deployments: [{ ...entry, spec: editImages(entry["spec"]) }] } };
      await cluster.kubectl(["replace", "-n", ns, "-f", "-"], JSON.stringify(edited));

      const { reality } = await k.read();
      expect(reality.desired.get("kd-02" as never)?.get("web" as never)?.tampered).toMatch(/spec does not match its hash/);
      const plan = diff(W, reality, { now });
      expect(plan.actions.map((a) => `${a._tag} ${a.device}.${a.deployment} ${a._tag === "Update" ? (a.repair ?? "") : ""}`)).toEqual([
        expect.stringMatching(/^Update kd-02\.web spec does not match its hash/),
      ]);
      const repaired = await k.apply(plan);
      expect(repaired._tag === "Completed" && repaired.outcomes.map((o) => o._tag)).toEqual(["Applied"]);
      expect(await cluster.kubectl(["get", "device", "kd-02", "-n", ns, "-o", "json"])).not.toContain("evil.example");
      expect(diff(W, (await k.read()).reality, { now }).actions).toEqual([]);
    } finally {
      await k.close();
    }
  });
});
