/**
 * The laws of staged rollouts (docs/rollouts.md, issue "Rollouts as pure
 * plans"): each is a property over random fleets, policies and agents
 * (test/laws/rollout-arbitraries.ts), checked on the plans the diff makes
 * round after round (report → plan → apply) and judged with naive statements
 * of the rules, not with the step's own code.
 */
import { describe, it } from "vitest";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { device } from "../../src/algebra/Device.ts";
import { IMMEDIATE } from "../../src/algebra/Rollout.ts";
import { specHash } from "../../src/algebra/Deployment.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import { applyLedger } from "../../src/diff/Apply.ts";
import { isEmptyPlan, type Action } from "../../src/diff/Plan.ts";
import type { Reality } from "../../src/diff/Reality.ts";
import { rolloutKey } from "../../src/diff/Ledger.ts";
import { waveMembership } from "../../src/diff/Rollout.ts";
import { NOW, realityArb, worldArb } from "./arbitraries.ts";
import { naiveDiff } from "./model.ts";
import {
  agentsOf,
  budgetLeavesRoom,
  countOf,
  DB,
  drive,
  entriesView,
  fleetArb,
  hasSucceeded,
  initialOf,
  isAvailable,
  isOnline,
  labelsArb,
  naiveWaves,
  nowOf,
  OFFLINE_AFTER_MS,
  policyArb,
  POOL,
  recordOf,
  scenarioArb,
  TARGET,
  WEB,
  worldOf,
  worldView,
  type Round,
  type Scenario,
  type ScenarioShape,
} from "./rollout-arbitraries.ts";

const RUNS = { numRuns: 60 };

/** The actions of a plan on `web` that publish a spec (creates and updates), by device. */
const publishes = (actions: ReadonlyArray<Action>): Map<string, Extract<Action, { _tag: "Create" | "Update" }>> =>
  new Map(actions.flatMap((a) => (a.deployment === WEB && a._tag !== "Delete" ? [[a.device as string, a] as const] : [])));

const givesTarget = (a: Action): boolean => a.deployment === WEB && a._tag !== "Delete" && a.specHash === TARGET;

/** Wave of every device after a round's plan (count waves as the ledger pinned them). */
const wavesAfter = (s: Scenario, r: Round): Map<string, number> => naiveWaves(s.policy, s.devices, recordOf(r.after)?.waves ?? []);

/** Runs a scenario for `rounds` rounds, or gives `undefined` when the policy does not fit its fleet (a wave that selects nothing). */
const runScenario = (s: Scenario, rounds: number): ReadonlyArray<Round> | undefined => {
  const out = drive(worldOf(s.devices, s.policy), initialOf(s), rounds, () => agentsOf(s));
  return out.some((r) => (r.plan.rollouts ?? []).some((p) => p.problems.length > 0)) ? undefined : out;
};

/** A property over the rounds of random scenarios of one shape (those whose policy does not fit their fleet are skipped). */
const overRounds = (shape: ScenarioShape, check: (s: Scenario, rounds: ReadonlyArray<Round>) => boolean, extraRounds = 0) =>
  fc.property(scenarioArb(shape), (s) => {
    const rounds = runScenario(s, roundsFor(s) + extraRounds);
    return rounds === undefined || check(s, rounds);
  });

/** Enough rounds for a rollout of the scenario's waves to finish, with devices back and budgets at their slowest. */
const roundsFor = (s: Scenario): number => s.policy.waves.length + 3 + (s.offline.size > 0 ? 4 : 0) + (s.policy.budget !== undefined ? s.devices.length : 0);

describe("staged rollouts: waves", () => {
  it("1. waves partition the targeted devices: every device in exactly one wave, the wave the rules give it", () =>
    fc.assert(
      fc.property(fleetArb(0, 10), policyArb(), fc.boolean(), (devices, policy, pinned) => {
        const opened = pinned ? waveMembership(WEB, policy, devices, []).pins.map((p) => (p === undefined ? { openedAt: NOW } : { openedAt: NOW, pinned: p })) : [];
        const { wave } = waveMembership(WEB, policy, devices, opened);
        const model = naiveWaves(policy, devices, opened);
        const W = policy.waves.length;
        // covering and disjoint: one wave index in [0, W] per device
        if (wave.length !== devices.length || [...wave].some((k) => !(k >= 0 && k <= W))) return false;
        // each wave's count limit holds
        const sizes = policy.waves.map((_, k) => [...wave].filter((x) => x === k).length);
        if (policy.waves.some((w, k) => typeof w.limit === "number" && (sizes[k] as number) > w.limit)) return false;
        return devices.every((d, i) => wave[i] === model.get(d.id));
      }),
      { numRuns: 200 },
    ));

  it("7. stability: relabelling or adding one device never moves another between percentage waves, nor between count waves once pinned", () =>
    fc.assert(
      fc.property(fleetArb(1, 10), policyArb(), fc.constantFrom(...POOL), labelsArb, (devices, policy, id, labels) => {
        const changed = device(id, { labels });
        const others = devices.filter((d) => d.id !== changed.id);
        const after = [...others, changed].sort((a, b) => (a.id < b.id ? -1 : 1));
        const pins = waveMembership(WEB, policy, devices, []).pins;
        const allPinned = pins.map((p) => (p === undefined ? { openedAt: NOW } : { openedAt: NOW, pinned: p }));
        const hasCount = policy.waves.some((w) => typeof w.limit === "number");
        const stableWith = (opened: typeof allPinned): boolean => {
          const a = waveMembership(WEB, policy, devices, opened).wave;
          const b = waveMembership(WEB, policy, after, opened).wave;
          return others.every((d) => a[devices.indexOf(d)] === b[after.indexOf(d)]);
        };
        return stableWith(allPinned) && (hasCount || stableWith([]));
      }),
      { numRuns: 300 },
    ));
});

describe("staged rollouts: every step", () => {
  it("2. in every budget group, unavailable devices (counting those already failing and those being updated) stay within maxUnavailable, available ones above minAvailable", () =>
    fc.assert(
      overRounds({ budget: true, failures: true, offline: true, timeout: true }, (s, rounds) => {
        const budget = s.policy.budget;
        if (budget === undefined) return true;
        return rounds.every(({ before, plan, now }) => {
          const touched = new Set(plan.actions.filter((a) => a.deployment === WEB).map((a) => a.device as string));
          const groups = new Map<string, { n: number; downBefore: number; downAfter: number }>();
          for (const d of s.devices) {
            if (!isOnline(before, d.id, now)) continue;
            const key = budget.groupBy.map((k) => d.labels[k] ?? "").join("/");
            const g = groups.get(key) ?? { n: 0, downBefore: 0, downAfter: 0 };
            const down = !isAvailable(before, d.id);
            groups.set(key, { n: g.n + 1, downBefore: g.downBefore + (down ? 1 : 0), downAfter: g.downAfter + (down || touched.has(d.id) ? 1 : 0) });
          }
          return [...groups.values()].every(({ n, downBefore, downAfter }) => {
            const maxU = budget.maxUnavailable === undefined ? n : countOf(budget.maxUnavailable, n);
            const minA = budget.minAvailable === undefined ? 0 : countOf(budget.minAvailable, n);
            return downAfter <= Math.max(maxU, downBefore) && n - downAfter >= Math.min(minA, n - downBefore);
          });
        });
      }),
      RUNS,
    ));

  it("3. no device of wave k + 1 receives the target before wave k passed its gate", () =>
    fc.assert(
      overRounds({ budget: true, failures: true, offline: true, timeout: true }, (s, rounds) => {
        const passed = s.policy.waves.map(() => false);
        return rounds.every((r) => {
          const wave = wavesAfter(s, r);
          passed.forEach((was, k) => {
            if (was) return;
            const online = s.devices.filter((d) => wave.get(d.id) === k && isOnline(r.before, d.id, r.now));
            const threshold = s.policy.waves[k]?.successThreshold ?? s.policy.successThreshold;
            passed[k] = online.filter((d) => hasSucceeded(r.before, d.id)).length >= countOf(`${threshold}%`, online.length);
          });
          return r.plan.actions.filter(givesTarget).every((a) => passed.slice(0, wave.get(a.device)).every((p) => p));
        });
      }),
      RUNS,
    ));

  it("4. after an abort no device outside the started waves ever receives the target (and a pause publishes nothing at all)", () =>
    fc.assert(
      overRounds({ failures: true, offline: true, timeout: true, budget: true }, (s, rounds) => {
        let started: number | undefined;
        return rounds.every((r) => {
          const rec = recordOf(r.after);
          if (started === undefined && rec?.outcome?._tag === "Failed") started = rec.waves.length;
          if (started === undefined) return true;
          const wave = wavesAfter(s, r);
          const given = r.plan.actions.filter(givesTarget);
          // a pause publishes nothing at all for the deployment; a rollback only the way back
          const paused = s.policy.onFailure === "pause" && r.plan.actions.some((a) => a.deployment === WEB);
          return given.every((a) => (wave.get(a.device) as number) < (started as number)) && !paused;
        });
      }),
      RUNS,
    ));

  it("5. rollback restores exactly the previous spec of every touched device (or no entry) and nothing else", () =>
    fc.assert(
      overRounds({ failures: true, offline: true, timeout: true, onFailure: "rollback" }, (s, rounds) => {
        // the entry each device held just before the rollout first gave it the target
        const before = new Map<string, string | undefined>();
        for (const r of rounds)
          for (const a of r.plan.actions)
            if (givesTarget(a) && !before.has(a.device)) before.set(a.device, r.before.desired.get(a.device)?.get(WEB)?.specHash);
        const rolledBack = rounds.some((r) => recordOf(r.after)?.outcome?._tag === "Failed");
        const rollbacks = rounds.flatMap((r) => r.plan.actions.filter((a) => (a._tag === "Update" && a.rollback !== undefined) || (a._tag === "Delete" && a.reason._tag === "RolledBack")));
        // rollback actions: only on `web`, only on touched devices, back to what they held (a spec that hashes to it)
        const exact = rollbacks.every((a) => a.deployment === WEB && before.has(a.device) && (a._tag === "Delete" ? before.get(a.device) === undefined : a.specHash === before.get(a.device) && specHash(a.spec) === a.specHash));
        if (!exact) return false;
        if (!rolledBack) return rollbacks.length === 0;
        // and in the end every touched device holds what it held before
        const last = (rounds[rounds.length - 1] as Round).after;
        return [...before].every(([id, h]) => last.desired.get(id as DeviceId)?.get(WEB)?.specHash === h);
      }),
      RUNS,
    ));

  it("9. offline devices never block (defer): never planned while offline, a gate never waits for them, and they receive the World when they return", () =>
    fc.assert(
      overRounds({ offline: true, starts: ["v1", "v1", "none", "target"] }, (s, rounds) => {
        const deferred = rounds.every((r) => r.plan.actions.filter(givesTarget).every((a) => isOnline(r.before, a.device, r.now)));
        const neverWaits = rounds.every((r) => {
          const rec = recordOf(r.before);
          if (rec === undefined || rec.outcome !== undefined) return true;
          const k = rec.waves.length - 1;
          const wave = naiveWaves(s.policy, s.devices, rec.waves);
          const online = s.devices.filter((d) => wave.get(d.id) === k && isOnline(r.before, d.id, r.now));
          if (!online.every((d) => hasSucceeded(r.before, d.id))) return true;
          const next = recordOf(r.after);
          return next !== undefined && (next.waves.length > k + 1 || next.outcome?._tag === "Complete");
        });
        const last = rounds[rounds.length - 1] as Round;
        const world = worldView(s.devices);
        const reported = s.devices.every((d) => last.before.observed.get(d.id)?.get(WEB)?.specHash === TARGET || !isOnline(last.before, d.id, last.now));
        return deferred && neverWaits && isDeepStrictEqual(entriesView(last.after), world) && reported;
      }),
      RUNS,
    ));
});

describe("staged rollouts: Immediate is today's diff", () => {
  it("6a. a World of Immediate deployments gives a plan without rollouts or ledger, equal to the naive model", () =>
    fc.assert(
      fc.property(worldArb, realityArb({ damaged: true }), (w, r) => {
        const p = diff(w, r, { now: NOW });
        return !("rollouts" in p) && !("ledger" in p) && isDeepStrictEqual([...p.actions], [...naiveDiff(w, r, NOW).actions]);
      }),
    ));

  it("6b. replacing every policy by Immediate gives the ungated per-device actions, of which the staged plan's forward actions are a subset", () =>
    fc.assert(
      fc.property(scenarioArb({ budget: true, failures: true, offline: true, timeout: true }), fc.nat(6), (s, k) => {
        const rounds = runScenario(s, k + 1);
        if (rounds === undefined) return true;
        const { before, plan, now } = rounds[k] as Round;
        const immediateWorld = worldOf(s.devices, IMMEDIATE);
        const immediate = diff(immediateWorld, { ...before, rollouts: new Map() }, { now, offlineAfterMs: OFFLINE_AFTER_MS });
        const naive = naiveDiff(immediateWorld, before, now, OFFLINE_AFTER_MS);
        if (!isDeepStrictEqual([...immediate.actions], [...naive.actions]) || "rollouts" in immediate) return false;
        const byKey = new Map(immediate.actions.map((a) => [`${a.device}.${a.deployment}`, a]));
        const base = recordOf(rounds[k]?.after as Reality)?.base;
        return plan.actions.every((a) => {
          if (a._tag === "Update" && a.rollback !== undefined) return true;
          if (a._tag === "Delete" && a.reason._tag === "RolledBack") return true;
          if (a._tag === "Create" && a.specHash === base && a.specHash !== TARGET) return true; // a newcomer's base spec (law 10)
          const { prior: _prior, ...rest } = a as Action & { prior?: unknown };
          return isDeepStrictEqual(rest, byKey.get(`${a.device}.${a.deployment}`));
        }) && immediate.actions.filter((a) => a.deployment === DB).every((a) => plan.actions.some((b) => isDeepStrictEqual(a, b)));
      }),
      RUNS,
    ));
});

describe("staged rollouts: convergence", () => {
  it("8. healthy agents, no budget: the World within n steps, n the number of waves (counting the rest) with a device not yet at the target, at most waves + 1; then a step that only records the completion, then an empty plan; the final entries do not depend on the policy", () =>
    fc.assert(
      fc.property(scenarioArb({ starts: ["v1", "v1", "none", "target"] }), (s) => {
        const initialWaves = naiveWaves(s.policy, s.devices);
        const busy = new Set(s.devices.filter((d) => s.start.get(d.id) !== "target").map((d) => initialWaves.get(d.id)));
        const n = Math.max(1, busy.size);
        const rounds = runScenario(s, n + 2);
        if (rounds === undefined) return true;
        const world = worldView(s.devices);
        const reached = isDeepStrictEqual(entriesView((rounds[n - 1] as Round).after), world);
        const settled = (rounds[n] as Round).plan.actions.length === 0 && isEmptyPlan((rounds[n + 1] as Round).plan);
        const immediate = drive(worldOf(s.devices, IMMEDIATE), initialOf(s), 2, () => agentsOf(s));
        return n <= s.policy.waves.length + 1 && reached && settled && isDeepStrictEqual(entriesView((immediate[1] as Round).after), world);
      }),
      RUNS,
    ));

  it("8'. healthy agents with a budget: every step makes progress until the World is reached, within (targeted devices + waves) steps, when minAvailable leaves room in every group", () =>
    fc.assert(
      fc.property(scenarioArb({ budget: true, starts: ["v1", "v1", "none", "target"] }), (s) => {
        if (s.policy.budget === undefined) return true;
        fc.pre(budgetLeavesRoom(s));
        const limit = s.devices.length + s.policy.waves.length + 1;
        const rounds = runScenario(s, limit + 1);
        if (rounds === undefined) return true;
        const world = worldView(s.devices);
        const at = rounds.findIndex((r) => isDeepStrictEqual(entriesView(r.after), world));
        return at !== -1 && at < limit && rounds.slice(0, at + 1).every((r) => r.plan.actions.length > 0);
      }),
      RUNS,
    ));

  it("11. observed state changes when a device receives its spec, never what: every action is the World's (or a newcomer's base, or a rollback), and without an abort the entries end as the World", () =>
    fc.assert(
      fc.property(
        scenarioArb({ offline: true, timeout: true, starts: ["v1", "v0", "none", "target", "failing"] }),
        fc.func(fc.constantFrom("Running", "Running", "Failed", "Pending")),
        fc.integer({ min: 0, max: 4 }),
        (s, phaseOf, flaky) => {
          const w = worldOf(s.devices, s.policy);
          const truth = agentsOf(s);
          // for `flaky` rounds agents report arbitrary phases of what they hold; then the truth, where the
          // target runs everywhere and devices failing at V1 keep failing there (they too must receive the World)
          const rounds = drive(w, initialOf(s), flaky + roundsFor(s) + 2, (round) =>
            round < flaky ? { ...truth, fails: (id, h) => phaseOf(id, h, round) !== "Running" } : { ...truth, fails: (id, h) => h !== TARGET && (truth.fails?.(id, h) ?? false) },
          );
          if (rounds.some((r) => (r.plan.rollouts ?? []).some((p) => p.problems.length > 0))) return true;
          const what = rounds.every((r) => {
            const immediate = naiveDiff(worldOf(s.devices, IMMEDIATE), r.before, r.now, OFFLINE_AFTER_MS).actions;
            const base = recordOf(r.after)?.base;
            return r.plan.actions.every(
              (a) =>
                (a._tag === "Update" && a.rollback !== undefined) ||
                (a._tag === "Delete" && a.reason._tag === "RolledBack") ||
                (a._tag === "Create" && a.specHash === base && r.before.desired.get(a.device)?.get(WEB) === undefined) ||
                immediate.some((b) => b.device === a.device && b.deployment === a.deployment && b._tag === a._tag && (a._tag === "Delete" || (b._tag !== "Delete" && b.specHash === a.specHash))),
            );
          });
          const last = rounds[rounds.length - 1] as Round;
          const aborted = recordOf(last.after)?.outcome?._tag === "Failed";
          return what && (aborted || isDeepStrictEqual(entriesView(last.after), worldView(s.devices)));
        },
      ),
      { numRuns: 40 },
    ));
});

describe("staged rollouts: newcomers", () => {
  it("10. a device that joins mid-rollout receives the target if its wave is open, else the ledger's base spec, else nothing", () =>
    fc.assert(
      fc.property(scenarioArb({ failures: true, timeout: true, budget: true }), fc.nat(4), fc.constantFrom(...POOL), labelsArb, (s, k, id, labels) => {
        fc.pre(s.devices.every((d) => d.id !== id));
        const rounds = runScenario(s, k + 1);
        if (rounds === undefined) return true;
        const newcomer = device(id, { labels });
        const fleet = [...s.devices, newcomer].sort((a, b) => (a.id < b.id ? -1 : 1));
        const prev = (rounds[k] as Round).after;
        const joined: Reality = { ...prev, devices: new Map([...prev.devices, [newcomer.id, { device: newcomer }]]) };
        const [r] = drive(worldOf(fleet, s.policy), joined, 1, () => agentsOf(s), k + 1);
        const { plan, before } = r as Round;
        if ((plan.rollouts ?? []).some((p) => p.problems.length > 0)) return true;
        const rec = applyLedger(before.rollouts, plan.ledger)?.get(rolloutKey(WEB, TARGET));
        const a = publishes(plan.actions).get(id);
        if (rec === undefined) return a?.specHash === TARGET; // nothing rolling: the newcomer starts a rollout of its own
        if (rec.outcome?._tag === "Failed") return a === undefined;
        const wave = naiveWaves(s.policy, fleet, rec.waves).get(id) as number;
        if (wave < rec.waves.length) return a?._tag === "Create" && a.specHash === TARGET;
        if (rec.base === undefined) return a === undefined;
        return a?._tag === "Create" && a.specHash === rec.base && specHash(a.spec) === rec.base;
      }),
      RUNS,
    ));
});

describe("staged rollouts: a fleet not yet online", () => {
  it("a rollout does not start while none of its devices is online: no wave passes without evidence, and they start with the first wave when they come online", async () => {
    const { deployment, podman } = await import("../../src/algebra/Deployment.ts");
    const { assign } = await import("../../src/world/Assignment.ts");
    const { world } = await import("../../src/world/World.ts");
    const { waves } = await import("../../src/world/Rollout.ts");
    const { reality } = await import("../../src/diff/Reality.ts");
    const { applyPlan } = await import("../../src/diff/Apply.ts");
    const fleet = Array.from({ length: 20 }, (_, i) => device(`p${String(i).padStart(2, "0")}`, { labels: { env: "prod" }, arch: "x86_64" }));
    const web = deployment("web", podman({ services: [{ name: "s", image: "httpd:2" }] }), { rollout: waves("10%", "50%") });
    const w = world({ fleet, assignments: [assign("env=prod", web)] });
    const first = diff(w, reality({}), { now: NOW });
    if (first.actions.length !== 0 || first.ledger !== undefined) throw new Error("a rollout started with no device online");
    const online = applyPlan(reality({ devices: fleet.map((d) => ({ device: d, lastHeartbeat: NOW })) }), first);
    const second = diff(w, online, { now: NOW });
    const record = second.ledger?.[0];
    if (record?._tag !== "Put" || record.record.outcome !== undefined || record.record.waves.length !== 1)
      throw new Error(`expected the rollout to start at its first wave, got ${JSON.stringify(second.rollouts?.[0]?.state)}`);
    if (second.actions.length >= fleet.length) throw new Error(`every device got the target at once (${second.actions.length} actions)`);
  });
});
