/**
 * A Planner fed from a real nats-server's change streams (PlannerFeed.ts)
 * holds the plan a fresh full read and diff would give: after the first
 * catch-up, and after registrations, a relabel, heartbeats, state reports,
 * an apply, deleted and unreadable records, and their repair.
 */
import { describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import type { Plan } from "../../src/diff/Plan.ts";
import { feedPlanner, type PlannerFeed } from "../../src/interpreters/nats/PlannerFeed.ts";
import { arch, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { sleep, useNats } from "./support.ts";

const app = (name: string, image: string) => deployment(name, podman({ services: [{ name: "main", image }] }));
const W = world({
  assignments: [
    assign(label("env", "prod"), app("web", "registry.local/web:1")),
    assign(label("env", "staging"), app("web", "registry.local/web:2")),
    assign(arch("aarch64"), app("metrics", "registry.local/metrics:arm")),
  ],
});
const NOW = new Date("2026-11-30T12:00:00Z");
const options = { now: NOW };

describe("a Planner fed from NATS change streams", () => {
  const fx = useNats({ name: "planner-feed" });

  /** The feed's plan, once it equals a fresh read's (bounded wait: the streams deliver asynchronously). */
  const agrees = async (feed: PlannerFeed): Promise<{ fed: Plan; fresh: Plan }> => {
    let fed: Plan = feed.planner.plan();
    let fresh: Plan = diff(W, (await fx.fleet.read()).reality, options);
    for (let i = 0; i < 100; i++) {
      await feed.caughtUp();
      fed = feed.planner.plan();
      fresh = diff(W, (await fx.fleet.read()).reality, options);
      if (JSON.stringify(fed) === JSON.stringify(fresh)) break;
      await sleep(50);
    }
    return { fed, fresh };
  };

  it("plans what a fresh read and diff plans, change after change", async () => {
    const fleet = fx.fleet;
    const at = new Date(NOW.getTime() - 10_000);
    await fleet.register(device("pf-01", { labels: { env: "prod" }, arch: "aarch64" }), at);
    await fleet.register(device("pf-02", { labels: { env: "staging" }, arch: "x86_64" }), at);
    await fleet.register(device("pf-03", { labels: { env: "prod" }, arch: "x86_64" }));
    // Published once, so that later changes have entries to update and delete.
    await fleet.apply(diff(W, (await fleet.read()).reality, options));

    const changed = new Set<string>();
    const feed = await feedPlanner(jetstream(fleet.connection), W, options, {
      changed: (_, change) => {
        if (change._tag === "Devices") for (const s of change.steps) changed.add(s.device);
      },
    });
    try {
      let { fed, fresh } = await agrees(feed);
      expect(fed).toStrictEqual(fresh);
      expect(fed.actions).toEqual([]);

      // A relabel, a new device, a heartbeat and a state report.
      await fleet.register(device("pf-02", { labels: { env: "prod" }, arch: "aarch64" }), at);
      await fleet.register(device("pf-04", { labels: { env: "staging" }, arch: "aarch64" }));
      await fleet.heartbeat("pf-03" as DeviceId, new Date(NOW.getTime() - 5_000));
      await fleet.report({ device: "pf-01" as DeviceId, deployment: "web" as DeploymentName, phase: "Running", at: NOW });
      ({ fed, fresh } = await agrees(feed));
      expect(fed).toStrictEqual(fresh);
      expect(fed.summary.update + fed.summary.create).toBeGreaterThan(0);
      // Each change named the devices it re-planned (a heartbeat of a device without actions re-plans none).
      expect([...changed].sort()).toEqual(["pf-02", "pf-04"]);

      // Applying the plan: its writes come back through the stream and the plan empties.
      await fleet.apply(fed);
      ({ fed, fresh } = await agrees(feed));
      expect(fed).toStrictEqual(fresh);
      expect(fed.actions).toEqual([]);

      // A deleted entry, a deleted registration, an unreadable record; then its repair.
      await fleet.buckets.desired.delete("pf-01.web");
      await fleet.buckets.info.delete("pf-03");
      await fleet.buckets.info.put("pf-04", new TextEncoder().encode("{not json"));
      ({ fed, fresh } = await agrees(feed));
      expect(fed).toStrictEqual(fresh);
      expect(fed.skipped.map((s) => s.device)).toEqual(["pf-04"]);
      expect(fed.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`)).toEqual(["Create pf-01.web", "Delete pf-03.web"]);

      await fleet.register(device("pf-04", { labels: { env: "dev" }, arch: "aarch64" }));
      ({ fed, fresh } = await agrees(feed));
      expect(fed).toStrictEqual(fresh);
      expect(fed.skipped).toEqual([]);

      // Time is the caller's: a tick judges presence anew, as a diff at that time would.
      const later = new Date(NOW.getTime() + 3_600_000);
      feed.planner.apply({ _tag: "Tick", now: later });
      expect(feed.planner.plan()).toStrictEqual(diff(W, (await fleet.read()).reality, { now: later }));
    } finally {
      feed.stop();
    }
  });
});
