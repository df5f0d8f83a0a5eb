/**
 * Saved plans (`fleet plan --out plan.json`, then `fleet apply plan.json`),
 * like Terraform's plan files: the actions to apply, bound to what they were
 * computed from.
 *
 * Binding:
 * - `reality`: a digest of the Reality the plan was computed against: every
 *   desired entry's key and fingerprint, every registered device (labels,
 *   arch, facts; not heartbeats, which move all the time) and the damaged
 *   device ids. Applying after any of it changed is refused ("stale");
 * - `world`: the World's hash (`worldHash`); when the fleet files can still be
 *   loaded, apply checks that they still give that World;
 * - `backend`: where it was planned (a state directory, servers), never a secret.
 *
 * The decoder is strict about meaning (each action's spec must hash to its
 * spec hash, keys unique, canonical order) and permissive about extra
 * fields; it never throws (fuzzed in test/cli/decoders.test.ts).
 */
import * as S from "fp-ts/lib/string.js";
import * as t from "io-ts";
import { DateFromISOString } from "../algebra/Time.ts";
import * as E from "fp-ts/lib/Either.js";
import { canonicalJson, contentHash } from "../algebra/Canonical.ts";
import { DeviceCodec } from "../algebra/Device.ts";
import { DeploymentCodec, specHash } from "../algebra/Deployment.ts";
import { formatValidationErrors } from "../algebra/DecodeError.ts";
import { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { compareActions, summarise, type Action, type Plan, type Skipped } from "../diff/Plan.ts";
import { desiredEntries, type Reality } from "../diff/Reality.ts";

export const PLAN_FORMAT = "fleet-plan";
export const PLAN_VERSION = 1;

export interface SavedPlan {
  readonly createdAt: Date;
  readonly fleetVersion: string;
  /** The fleet files as given, and the directory they were given in. */
  readonly files: ReadonlyArray<string>;
  readonly cwd: string;
  readonly world: string;
  readonly reality: string;
  readonly backend: string;
  /** The `now` the plan's presence notes were judged at. */
  readonly now: Date;
  readonly plan: Plan;
}

/** Digest of what a plan depends on in Reality (see the module header). */
export const realityDigest = (r: Reality): string => {
  const desired: string[] = [];
  for (const e of desiredEntries(r)) desired.push(`${e.device}.${e.deployment}=${e.fingerprint}`);
  return contentHash({
    desired: desired.sort(S.Ord.compare),
    devices: [...r.devices.values()].map((d) => canonicalJson(DeviceCodec.encode(d.device))).sort(S.Ord.compare),
    damaged: [...r.damaged.keys()].sort(S.Ord.compare),
  });
};

// -------------------------------------------------------------------------------------
// codec
// -------------------------------------------------------------------------------------

const Int = t.refinement(t.number, Number.isSafeInteger, "Integer");
const Count = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, "Count");
const Previous = t.type({ specHash: t.string, fingerprint: t.string });
const AssignedBy = t.type({ assignment: t.string, selector: t.string, priority: Int });
const Presence = t.keyof({ online: null, offline: null, unregistered: null });
const DeleteReason = t.type({ _tag: t.keyof({ Unassigned: null, DeviceRemoved: null }) });
const Key = { device: DeviceId, deployment: DeploymentName };
const SHAPES = {
  Create: t.type({ _tag: t.literal("Create"), ...Key, spec: DeploymentCodec, specHash: t.string, reason: AssignedBy, presence: Presence }),
  Update: t.type({ _tag: t.literal("Update"), ...Key, spec: DeploymentCodec, specHash: t.string, previous: Previous, reason: AssignedBy, presence: Presence }),
  Delete: t.type({ _tag: t.literal("Delete"), ...Key, previous: Previous, reason: DeleteReason, presence: Presence }),
};

export const ActionCodec = new t.Type<Action, unknown, unknown>(
  "Action",
  (u): u is Action => typeof u === "object" && u !== null && ["Create", "Update", "Delete"].includes((u as { _tag?: unknown })._tag as string),
  (u, c) => {
    const tag = typeof u === "object" && u !== null ? (u as { _tag?: unknown })._tag : undefined;
    if (tag !== "Create" && tag !== "Update" && tag !== "Delete") return t.failure(u, c, `expected an action (_tag Create, Update or Delete)`);
    const r = SHAPES[tag].validate(u, c) as t.Validation<Action>;
    if (E.isLeft(r)) return r;
    const a = r.right;
    if (a._tag !== "Delete") {
      if (a.spec.name !== a.deployment) return t.failure(u, c, `the spec is named ${JSON.stringify(a.spec.name)}, not ${JSON.stringify(a.deployment)}`);
      if (specHash(a.spec) !== a.specHash) return t.failure(u, c, "the spec does not hash to its specHash (the file was edited or damaged)");
    }
    return t.success(a);
  },
  (a) => a,
);

const SummaryIn = t.type({ unchanged: Count, devices: Count });
const SkippedCodec = t.type({ device: DeviceId, reason: t.string });

const SavedPlanShape = t.type({
  format: t.literal(PLAN_FORMAT),
  version: t.literal(PLAN_VERSION),
  createdAt: DateFromISOString,
  fleetVersion: t.string,
  files: t.array(t.string),
  cwd: t.string,
  world: t.string,
  reality: t.string,
  backend: t.string,
  now: DateFromISOString,
  actions: t.array(ActionCodec),
  skipped: t.array(SkippedCodec),
  summary: SummaryIn,
});

/** Decodes a saved plan's text, or says in one line why it is not one. */
export const decodeSavedPlan = (text: string): E.Either<string, SavedPlan> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left(`not JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || (json as { format?: unknown }).format !== PLAN_FORMAT)
    return E.left(`not a fleet saved plan (no "format": "${PLAN_FORMAT}")`);
  const v = (json as { version?: unknown }).version;
  if (typeof v === "number" && v > PLAN_VERSION) return E.left(`saved by a newer fleet (plan format version ${v}; this fleet reads ${PLAN_VERSION})`);
  const r = SavedPlanShape.decode(json);
  if (E.isLeft(r)) {
    const msg = formatValidationErrors(r.left);
    return E.left(msg.length > 300 ? `${msg.slice(0, 297)}...` : msg);
  }
  const p = r.right;
  for (let i = 1; i < p.actions.length; i++)
    if (compareActions(p.actions[i - 1] as Action, p.actions[i] as Action) >= 0)
      return E.left(`actions.${i}: actions must be unique and in canonical order (by device, then deployment)`);
  const skipped: ReadonlyArray<Skipped> = p.skipped;
  return E.right({
    createdAt: p.createdAt,
    fleetVersion: p.fleetVersion,
    files: p.files,
    cwd: p.cwd,
    world: p.world,
    reality: p.reality,
    backend: p.backend,
    now: p.now,
    plan: {
      actions: p.actions,
      conflicts: [],
      skipped,
      summary: summarise(p.actions, { unchanged: p.summary.unchanged, devices: p.summary.devices, conflicts: 0, skipped: skipped.length }),
    },
  });
};

export const encodeSavedPlan = (s: SavedPlan): string =>
  `${JSON.stringify(
    {
      format: PLAN_FORMAT,
      version: PLAN_VERSION,
      createdAt: s.createdAt.toISOString(),
      fleetVersion: s.fleetVersion,
      files: s.files,
      cwd: s.cwd,
      world: s.world,
      reality: s.reality,
      backend: s.backend,
      now: s.now.toISOString(),
      summary: s.plan.summary,
      skipped: s.plan.skipped,
      actions: s.plan.actions,
    },
    null,
    2,
  )}\n`;
