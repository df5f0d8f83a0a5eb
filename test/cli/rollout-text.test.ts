/**
 * `fleet plan` and `--json` on staged rollouts, from plans the pure driver
 * (test/rollout/sim.ts) computes: the schedule per wave, the budget, held-back
 * actions, the reason a rollout stopped, rollback actions shown as such;
 * `fleet status`'s rollout tables and lines.
 */
import { describe, expect, it } from "vitest";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { device } from "../../src/algebra/Device.ts";
import { reality } from "../../src/diff/Reality.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { rollout } from "../../src/world/Rollout.ts";
import type { Waves } from "../../src/algebra/Rollout.ts";
import { planLines } from "../../src/cli/PlanText.ts";
import * as J from "../../src/cli/JsonLines.ts";
import { paint } from "../../src/cli/Terminal.ts";
import { run } from "../rollout/sim.ts";
import { status } from "../../src/diff/Status.ts";
import { rolloutTable } from "../../src/cli/commands/status.ts";

const devices = Array.from({ length: 40 }, (_, i) => device(`pi-${String(i).padStart(2, "0")}`, { labels: { site: i % 2 === 0 ? "lab" : "shop" } }));
const web = (image: string, policy?: Waves) => deployment("web", podman({ services: [{ name: "httpd", image }] }), policy === undefined ? {} : { rollout: policy });
const worldOf = (image: string, policy?: Waves) => world({ fleet: devices, assignments: [assign("site", web(image, policy))] });
const start = reality({ devices: devices.map((d) => ({ device: d, lastHeartbeat: new Date("2026-01-01T00:00:00Z") })) });
const plain = paint(false);

/** v1 everywhere (Immediate), then v2 under the policy; the rounds of the rollout. */
const rollOut = (policy: Waves, rounds: number, fails?: (d: string, h: string) => boolean) => {
  const v1 = run(worldOf("httpd:1"), start, 3);
  const last = v1[v1.length - 1];
  if (last === undefined) throw new Error("no rounds");
  return run(worldOf("httpd:2", policy), last.after, rounds, fails === undefined ? {} : { fails }, { start: new Date("2026-01-02T00:00:00Z") });
};

describe("fleet plan on a staged rollout", () => {
  const policy = rollout({ waves: [{ selector: "site=lab", limit: 4 }, "25%"], maxUnavailable: 2, groupBy: ["site"], successThreshold: "95%" });

  it("shows every wave with its gate, the budget and what is held back", () => {
    const [first] = rollOut(policy, 1);
    const text = [...planLines(first!.plan, "device", plain)].join("\n");
    expect(text).toContain("Rollouts:");
    expect(text).toMatch(/# web → \S+: progressing, wave 1 of 3/);
    expect(text).toMatch(/wave 1 of 3: 4 devices \(site=lab, 4 devices\), open: 0 of 4 updated; passes at 4 of 4 succeeded \(95 %\)/);
    expect(text).toMatch(/wave 2 of 3: \d+ devices \(25 %\), opens when wave 1 ≥ 95 % succeeded/);
    expect(text).toMatch(/wave 3 of 3: \d+ devices \(the rest\), opens when wave 2 ≥ 95 % succeeded/);
    expect(text).toMatch(/budget: 0 of at most 2 unavailable in the tightest of 2 groups; 2 updates held back by it/);
    expect(text).toMatch(/36 devices wait for their wave to open/);
    expect(text).toMatch(/Plan: 0 to create, 2 to update, 0 to delete\. 38 held back by rollouts \(above\)\. 1 rollout record to write\./);
  });

  it("marks passed waves and says when the rollout is complete", () => {
    const rounds = rollOut(policy, 40);
    const texts = rounds.map((r) => [...planLines(r.plan, "device", plain)].join("\n"));
    expect(texts.some((t) => /wave 1 of 3: 4 devices \(site=lab, 4 devices\), passed/.test(t))).toBe(true);
    expect(texts.some((t) => /# web → \S+: complete/.test(t))).toBe(true);
    expect(texts[texts.length - 1]).toMatch(/^No changes\./m);
  });

  it("says why a rollout rolled back, and shows the rollback actions as such", () => {
    const rb = rollout({ waves: [{ selector: "site=lab", limit: 4 }, "25%"], onFailure: "rollback" });
    // Every device fails to run the new spec: the first wave fails, and is rolled back.
    const v1 = specHash(web("httpd:1"));
    const bad = rollOut(rb, 6, (_d, h) => h !== v1);
    const text = bad.map((r) => [...planLines(r.plan, "deployment", plain)].join("\n")).find((t) => t.includes("rolled back at wave 1"));
    expect(text).toBeDefined();
    expect(text).toMatch(/Rolled back: wave 1: 4 of 4 failed; 4 must succeed \(100 %\)/);
    expect(text).toMatch(/~ pi-\d\d \(rollback\)\s+\S+ → \S+\s+rollback: rollout of web failed: wave 1/);
    const json = bad.flatMap((r) => [...J.planLines(r.plan, [])].map((l) => JSON.parse(l) as Record<string, unknown>));
    expect(json.some((l) => l.type === "action" && typeof l.rollback === "string" && l.op === "update")).toBe(true);
    expect(json.some((l) => l.type === "rollout" && l.state === "RolledBack")).toBe(true);
  });

  it("puts rollouts and ledger writes in the JSON lines, before the summary", () => {
    const [first] = rollOut(policy, 1);
    const lines = [...J.planLines(first!.plan, [])].map((l) => JSON.parse(l) as Record<string, unknown>);
    const types = lines.map((l) => l.type);
    expect(types.slice(-3)).toEqual(["rollout", "ledger", "summary"]);
    const r = lines.find((l) => l.type === "rollout") as { waves: Array<Record<string, unknown>>; budget: Record<string, unknown>; state: string };
    expect(r.state).toBe("Progressing");
    expect(r.waves.map((w) => w.gate)).toEqual(["open", "waiting", "waiting"]);
    expect(r.budget).toMatchObject({ groups: 2, maxUnavailable: 2, heldBack: 2 });
    const l = lines.find((x) => x.type === "ledger") as { op: string; key: string; record: { startedAt: string } };
    expect(l.op).toBe("put");
    expect(l.key).toMatch(/^web@sha256:/);
    expect(typeof l.record.startedAt).toBe("string");
    const update = lines.find((x) => x.type === "action") as Record<string, unknown>;
    expect(update.prior).toMatch(/^sha256:/);
  });

  it("leaves plans without staged rollouts as they were (no rollout or ledger lines)", () => {
    const [first] = run(worldOf("httpd:1"), start, 1);
    const lines = [...J.planLines(first!.plan, [])].map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.type === "rollout" || l.type === "ledger")).toBe(false);
    expect([...planLines(first!.plan, "device", plain)].join("\n")).not.toContain("Rollouts:");
  });
});

describe("fleet status on a staged rollout", () => {
  const policy = rollout({ waves: [{ selector: "site=lab", limit: 4 }, "25%"], maxUnavailable: 2, groupBy: ["site"] });

  it("reports each rollout as the plan's step sees it, and nothing for Immediate-only worlds", () => {
    const rounds = rollOut(policy, 4);
    const r = rounds[3]!;
    const st = status(worldOf("httpd:2", policy), r.before, { now: r.now });
    expect(st.rollouts).toEqual(r.plan.rollouts);
    const plainSt = status(worldOf("httpd:2"), r.before, { now: r.now });
    expect("rollouts" in plainSt).toBe(false);
  });

  it("shows per wave the counts and the gate, in text and JSON lines", () => {
    const r = rollOut(policy, 4)[3]!;
    const progress = r.plan.rollouts![0]!;
    const text = rolloutTable(progress, plain).join("\n");
    expect(text).toMatch(/^Rollout web → \S+: progressing, wave 2 of 3/);
    expect(text).toMatch(/WAVE\s+DEVICES\s+GATE\s+TARGETED\s+UPDATED\s+SUCCEEDED\s+FAILED\s+PENDING\s+OFFLINE/);
    expect(text).toMatch(/1\s+site=lab, 4 devices\s+passed\s+4\s+4\s+4\s+0\s+0\s+0/);
    expect(text).toMatch(/3\s+the rest\s+waiting\s+33\s+0\s+0\s+0\s+33\s+0/);
    expect(text).toMatch(/budget: \d+ of at most 2 unavailable/);
    const json = JSON.parse(J.rolloutStatus(progress)) as { type: string; wave: number; waves: Array<{ gate: string; waiting: unknown }> };
    expect(json.type).toBe("rollout_status");
    expect(json.wave).toBe(1);
    expect(json.waves.map((w) => w.gate)).toEqual(["passed", "open", "waiting"]);
    expect(json.waves[2]!.waiting).toBe(33);
  });
});
