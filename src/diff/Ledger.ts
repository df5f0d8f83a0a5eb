/**
 * The rollout ledger: what a staged rollout must remember between steps, one
 * record per rollout (a deployment name and the spec hash it rolls out).
 *
 * Everything else a step needs is read afresh from Reality (which entries are
 * published, what agents report, who is online); the ledger keeps only what
 * cannot be read back: when each wave opened (for timeouts), which devices a
 * count-limited wave took when it opened (so later arrivals never move them),
 * the specs devices ran before the rollout touched them (for rollback; each
 * touched entry names its prior spec hash, the ledger holds the spec once per
 * hash), and how the rollout ended.
 *
 * Records are written by applying a plan (`Plan.ledger`), like entries.
 */
import * as t from "io-ts";
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { DateFromISOString } from "../algebra/Time.ts";
import { DeploymentCodec, type Deployment } from "../algebra/Deployment.ts";
import { DeploymentName, DeviceId } from "../algebra/Name.ts";

export type RolloutKey = string & { readonly RolloutKey: unique symbol };

/** `<deployment>@<spec hash>`. */
export const rolloutKey = (deployment: DeploymentName, target: string): RolloutKey => `${deployment}@${target}` as RolloutKey;

export interface OpenedWave {
  readonly openedAt: Date;
  /** For a wave limited by a count: the devices it took when it opened. */
  readonly pinned?: ReadonlyArray<DeviceId>;
}

export type RolloutOutcome =
  | { readonly _tag: "Complete"; readonly at: Date }
  | {
      readonly _tag: "Failed";
      /** The wave that failed its gate. */
      readonly wave: number;
      readonly at: Date;
      readonly reason: string;
      /** What the policy did about it. */
      readonly then: "pause" | "rollback";
    };

export interface RolloutRecord {
  readonly deployment: DeploymentName;
  /** The spec hash being rolled out. */
  readonly target: string;
  readonly startedAt: Date;
  /** The waves opened so far, in order (the first opens when the rollout starts). */
  readonly waves: ReadonlyArray<OpenedWave>;
  /** The spec most targeted devices ran when the rollout started: what a newcomer in a wave not yet open receives. */
  readonly base?: string;
  /** Specs devices ran before the rollout updated them, by spec hash (rollback restores them). */
  readonly priors: Readonly<Record<string, Deployment>>;
  readonly outcome?: RolloutOutcome;
}

export type LedgerWrite = { readonly _tag: "Put"; readonly record: RolloutRecord } | { readonly _tag: "Remove"; readonly key: RolloutKey };

export const keyOf = (r: RolloutRecord): RolloutKey => rolloutKey(r.deployment, r.target);

export const ledgerWriteKey = (w: LedgerWrite): RolloutKey => (w._tag === "Put" ? keyOf(w.record) : w.key);

export const OrdLedgerWrite: Ord.Ord<LedgerWrite> = Ord.contramap(ledgerWriteKey)(S.Ord);

// -------------------------------------------------------------------------------------
// codec (the JSON form backends store)
// -------------------------------------------------------------------------------------

const OutcomeCodec = t.union([
  t.type({ _tag: t.literal("Complete"), at: DateFromISOString }),
  t.type({ _tag: t.literal("Failed"), wave: t.number, at: DateFromISOString, reason: t.string, then: t.keyof({ pause: null, rollback: null }) }),
]);

// Exact: a stored record decodes to exactly its fields (a wire version or an unknown field stays on the wire).
export const RolloutRecordCodec = t.intersection([
  t.exact(
    t.type({
      deployment: DeploymentName,
      target: t.string,
      startedAt: DateFromISOString,
      waves: t.array(t.intersection([t.exact(t.type({ openedAt: DateFromISOString })), t.exact(t.partial({ pinned: t.array(DeviceId) }))])),
      priors: t.record(t.string, DeploymentCodec),
    }),
  ),
  t.exact(t.partial({ base: t.string, outcome: OutcomeCodec })),
]);

/** The JSON form of a record (dates as ISO strings). */
export const encodeRecord = (r: RolloutRecord): unknown => RolloutRecordCodec.encode(r as t.TypeOf<typeof RolloutRecordCodec>);
