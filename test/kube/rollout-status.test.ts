/**
 * FleetDeployment status of a deployment rolled out in waves, on a real
 * kube-apiserver: `status.rollout` (state, wave, each wave's counts and gate,
 * the budget) is written and shown by the ROLLOUT and WAVE printer columns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, type Deployment, type Waves } from "../../src/algebra/Deployment.ts";
import { diff } from "../../src/diff/Diff.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { rollout } from "../../src/world/Rollout.ts";
import { world } from "../../src/world/World.ts";
import { startCluster, table, type TestCluster } from "./cluster.ts";

const web = (image: string, policy?: Waves): Deployment =>
  deployment("web", podman({ services: [{ name: "httpd", image }] }), policy === undefined ? {} : { rollout: policy });
const fleet = Array.from({ length: 6 }, (_, i) => device(`pi-0${i + 1}`, { labels: { env: "prod", site: i % 2 === 0 ? "north" : "south" }, arch: "aarch64" }));
const policy = rollout({ waves: [{ selector: "site=north", limit: 1 }], maxUnavailable: 1, groupBy: ["site"] });

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

describe("FleetDeployment status of a staged rollout", () => {
  it("writes status.rollout and shows it in the ROLLOUT and WAVE columns", async () => {
    const ns = await cluster.namespace("rollout");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    const v1 = world({ assignments: [assign(label("env", "prod"), web("registry.local/web:1"))] });
    const first = await i.read();
    await i.apply(diff(v1, first.reality, { now: new Date() }));

    const v2 = world({ assignments: [assign(label("env", "prod"), web("registry.local/web:2", policy))] });
    await i.syncStatus(v2);
    const status = JSON.parse(await cluster.kubectl(["get", "fleetdeployment", "web", "-n", ns, "-o", "jsonpath={.status}"])) as {
      rollout?: { state: string; wave: string; waves: Array<{ gate: string; targeted: number; updated: number }>; budget?: { maxUnavailable: number } };
    };
    expect(status.rollout).toMatchObject({ state: "Progressing", wave: "1/2", budget: { maxUnavailable: 1 } });
    expect(status.rollout?.waves.map((w) => [w.gate, w.targeted, w.updated])).toEqual([
      ["open", 1, 0],
      ["waiting", 5, 0],
    ]);
    const rows = table(await cluster.kubectl(["get", "fleetdeployments", "-n", ns]));
    expect(rows.find((r) => r["NAME"] === "web")).toMatchObject({ ROLLOUT: "Progressing", WAVE: "1/2" });

  }, 120_000);
});
