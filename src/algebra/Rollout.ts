/**
 * Rollout policies: how a deployment's new spec reaches the devices it
 * targets, as data (docs/rollouts.md).
 *
 * - `Immediate`: every targeted device receives the spec in one step (the
 *   degenerate policy, and the default).
 * - `Waves`: the targeted devices are split into waves; a wave opens when the
 *   previous one reached its success threshold; within the open waves a
 *   disruption budget (per `groupBy` label set) bounds how many devices may be
 *   unavailable at once; a wave that fails its threshold or times out stops
 *   the rollout (`pause`) or returns its devices to their previous spec
 *   (`rollback`).
 *
 * This module is the policy's *data* only: it lives in the algebra layer so a
 * Deployment can hold it. Wave selectors are kept as their canonical selector
 * text (the selector layer sits above this one); `world/Rollout.ts` builds and
 * checks policies, `diff/Rollout.ts` computes the step a policy allows.
 *
 * One rounding rule: a percentage `p` of `n` devices is `ceil(p · n / 100)`
 * (`ofCount`), for budgets and thresholds alike, so a percentage of a
 * non-empty set is never 0. A wave limit given as a percentage is not
 * rounded: it is a share of the stable hash space (see `diff/Rollout.ts`).
 */
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as S from "fp-ts/lib/string.js";
import { isLabelKey } from "./Labels.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A count of devices (`5`) or a percentage of a set of devices (`"10%"`). */
export type Quantity = number | `${number}%`;

export interface WavePolicy {
  /** Canonical selector text; absent: any targeted device not in an earlier wave. */
  readonly selector?: string;
  /** At most this many (a count) or this share (a percentage) of the targeted devices. */
  readonly limit?: Quantity;
  /** Overrides the policy's success threshold for this wave (percent, 0..100). */
  readonly successThreshold?: number;
}

export interface DisruptionBudget {
  /** Label keys whose values form the groups the budget holds in; empty: one group. */
  readonly groupBy: ReadonlyArray<string>;
  readonly maxUnavailable?: Quantity;
  readonly minAvailable?: Quantity;
}

export type FailurePolicy = "pause" | "rollback";

export interface Immediate {
  readonly _tag: "Immediate";
}

export interface Waves {
  readonly _tag: "Waves";
  /** The explicit waves; the devices none of them takes form one last, implicit wave. */
  readonly waves: ReadonlyArray<WavePolicy>;
  readonly budget?: DisruptionBudget;
  /** Percent (0..100) of a wave's reachable devices that must succeed before the next wave opens. */
  readonly successThreshold: number;
  /** A wave not passed this long after it opened has failed; absent: no limit. */
  readonly waveTimeoutSeconds?: number;
  /** `defer`: offline devices are skipped and updated when they return (after their wave opened). */
  readonly offline: "defer";
  readonly onFailure: FailurePolicy;
}

export type Rollout = Immediate | Waves;

export const IMMEDIATE: Immediate = Object.freeze({ _tag: "Immediate" });

export const isWaves = (r: Rollout): r is Waves => r._tag === "Waves";

// -------------------------------------------------------------------------------------
// quantities
// -------------------------------------------------------------------------------------

/** The rounding rule: `ceil(p · n / 100)` for a percentage, the count itself (capped at `n`) otherwise. */
export const ofCount = (q: Quantity, n: number): number => {
  if (typeof q === "number") return Math.min(q, n);
  const p = Number(q.slice(0, -1));
  return Math.min(n, Math.ceil((p * n) / 100 - 1e-9));
};

/** The percentage of a quantity, or `undefined` for a count. */
export const percentOf = (q: Quantity): number | undefined => (typeof q === "number" ? undefined : Number(q.slice(0, -1)));

/** `ceil(threshold · n / 100)`: how many of `n` devices must succeed. */
export const needed = (thresholdPercent: number, n: number): number => ofCount(`${thresholdPercent}%`, n);

// -------------------------------------------------------------------------------------
// codecs (the JSON form is the data form: counts as numbers, percentages as "10%")
// -------------------------------------------------------------------------------------

const PERCENT = /^(\d{1,3}(\.\d+)?)%$/;

export const QuantityCodec = new t.Type<Quantity, Quantity, unknown>(
  "Quantity",
  (u): u is Quantity => E.isRight(QuantityCodec.validate(u, [])),
  (u, c) => {
    if (typeof u === "number")
      return Number.isInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c, `expected a count (a whole number ≥ 0) or a percentage like "10%", got ${u}`);
    if (typeof u === "string") {
      const m = PERCENT.exec(u.trim());
      if (m === null) return t.failure(u, c, `expected a percentage like "10%" or a count, got ${JSON.stringify(u)}`);
      const p = Number(m[1]);
      return p > 100 ? t.failure(u, c, `a percentage over 100 (${u})`) : t.success(`${p}%` as Quantity);
    }
    return t.failure(u, c, `expected a count or a percentage like "10%"`);
  },
  (q) => q,
);

/** A percentage 0..100, as a number (`95`) or a string (`"95%"`). */
export const PercentCodec = new t.Type<number, number, unknown>(
  "Percent",
  (u): u is number => typeof u === "number" && u >= 0 && u <= 100,
  (u, c) => {
    const n = typeof u === "string" && PERCENT.test(u.trim()) ? Number(u.trim().slice(0, -1)) : u;
    if (typeof n !== "number" || !Number.isFinite(n)) return t.failure(u, c, `expected a percentage (0..100, or "95%"), got ${JSON.stringify(u)}`);
    return n < 0 || n > 100 ? t.failure(u, c, `a threshold outside 0..100 % (${JSON.stringify(u)})`) : t.success(n);
  },
  (n) => n,
);

const DURATION = /^(\d+(\.\d+)?)(ms|s|m|h)$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Seconds, as a number or `"30s"`, `"10m"`, `"2h"`. */
export const DurationSecondsCodec = new t.Type<number, number, unknown>(
  "Duration",
  (u): u is number => typeof u === "number" && u > 0,
  (u, c) => {
    if (typeof u === "number") return Number.isFinite(u) && u > 0 ? t.success(u) : t.failure(u, c, `expected a positive duration, got ${u}`);
    if (typeof u === "string") {
      const m = DURATION.exec(u.trim());
      if (m !== null && Number(m[1]) > 0) return t.success(Number(m[1]) * (UNIT_SECONDS[m[3] as string] as number));
    }
    return t.failure(u, c, `expected a duration like "30s", "10m" or "2h" (or seconds), got ${JSON.stringify(u)}`);
  },
  (n) => n,
);

const SelectorText = t.refinement(t.string, (s) => s.trim().length > 0, "SelectorText");

const WaveCodec = t.intersection([
  t.type({}),
  t.partial({ selector: SelectorText, limit: QuantityCodec, successThreshold: PercentCodec }),
]);

const LabelKey = t.refinement(t.string, isLabelKey, "LabelKey");

const BudgetCodec = t.intersection([
  t.type({}),
  t.partial({ groupBy: t.array(LabelKey), maxUnavailable: QuantityCodec, minAvailable: QuantityCodec }),
]);

const WavesInput = t.intersection([
  t.type({ _tag: t.literal("Waves"), waves: t.array(WaveCodec) }),
  t.partial({
    budget: BudgetCodec,
    successThreshold: PercentCodec,
    waveTimeoutSeconds: DurationSecondsCodec,
    offline: t.literal("defer"),
    onFailure: t.keyof({ pause: null, rollback: null }),
  }),
]);

/** Why a decoded policy cannot work (a budget that allows no progress, a wave that can take no device). */
export const policyProblems = (w: Waves): ReadonlyArray<string> => {
  const out: string[] = [];
  w.waves.forEach((wave, i) => {
    if (wave.limit === 0 || wave.limit === "0%") out.push(`waves[${i}].limit: a wave limited to 0 devices takes none`);
  });
  const b = w.budget;
  if (b !== undefined) {
    if (b.maxUnavailable === undefined && b.minAvailable === undefined) out.push("budget: give maxUnavailable or minAvailable (or leave the budget out)");
    if (b.maxUnavailable === 0 || b.maxUnavailable === "0%") out.push("budget.maxUnavailable: 0 lets no device be updated (each update makes its device unavailable for a while)");
    if (b.minAvailable === "100%") out.push("budget.minAvailable: 100% lets no device be updated");
  }
  return out;
};

const normaliseWaves = (w: t.TypeOf<typeof WavesInput>): Waves =>
  Object.freeze({
    _tag: "Waves",
    waves: Object.freeze(
      w.waves.map((x) =>
        Object.freeze({
          ...(x.selector !== undefined ? { selector: x.selector.trim() } : {}),
          ...(x.limit !== undefined ? { limit: x.limit } : {}),
          ...(x.successThreshold !== undefined ? { successThreshold: x.successThreshold } : {}),
        }),
      ),
    ),
    ...(w.budget !== undefined
      ? {
          budget: Object.freeze({
            groupBy: Object.freeze([...new Set(w.budget.groupBy ?? [])].sort(S.Ord.compare)),
            ...(w.budget.maxUnavailable !== undefined ? { maxUnavailable: w.budget.maxUnavailable } : {}),
            ...(w.budget.minAvailable !== undefined ? { minAvailable: w.budget.minAvailable } : {}),
          }),
        }
      : {}),
    successThreshold: w.successThreshold ?? 100,
    ...(w.waveTimeoutSeconds !== undefined ? { waveTimeoutSeconds: w.waveTimeoutSeconds } : {}),
    offline: "defer",
    onFailure: w.onFailure ?? "pause",
  });

/** Decodes either policy; a `Waves` policy gets its defaults and is checked for budgets that allow no progress. */
export const RolloutCodec = new t.Type<Rollout, Rollout, unknown>(
  "Rollout",
  (u): u is Rollout => typeof u === "object" && u !== null && ((u as Rollout)._tag === "Immediate" || (u as Rollout)._tag === "Waves"),
  (u, c) => {
    if (typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Immediate") return t.success(IMMEDIATE);
    return pipe(
      WavesInput.validate(u, c),
      E.chain((w) => {
        const waves = normaliseWaves(w);
        const problems = policyProblems(waves);
        return problems.length === 0 ? t.success<Rollout>(waves) : t.failure(u, c, problems.join("; "));
      }),
    );
  },
  (r) => r,
);
