/**
 * The saved-plan file format (`fleet plan --out plan.json`, then `fleet apply
 * plan.json`), like Terraform's plan files: the actions to apply, with the
 * World they were made from and what binds them (`src/program/Binding.ts`
 * says what the binding is and checks it).
 *
 * Format version 2 carries the World itself (`worldValue`), so that apply can
 * re-diff and refuse a plan whose actions are not exactly what that World and
 * Reality give; a version 1 file (hash only) is refused with "plan again".
 *
 * The decoder is strict about meaning (each action's spec must hash to its
 * spec hash, keys unique, canonical order, a World that decodes) and
 * permissive about extra fields; it never throws (fuzzed in
 * test/cli/decoders.test.ts).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import * as t from "io-ts";
import * as O from "fp-ts/lib/Option.js";
import { DateFromISOString } from "../algebra/Time.ts";
import * as E from "fp-ts/lib/Either.js";
import { DeviceCodec, type Device } from "../algebra/Device.ts";
import { DeploymentCodec, shortHash, specHash } from "../algebra/Deployment.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";
import { formatProblem, formatValidationErrors } from "../algebra/DecodeError.ts";
import { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { compareActions, summarise, type Action, type Skipped } from "../diff/Plan.ts";
import { RolloutRecordCodec, encodeRecord, type LedgerWrite } from "../diff/Ledger.ts";
import type { BindingRefusal, SavedPlan } from "../program/Binding.ts";
import { declarations, type World } from "../world/World.ts";
import { decodeWorld } from "./WorldCodec.ts";
import { writeFileAtomic } from "../interpreters/local/AtomicFile.ts";

export type { SavedPlan };
export { realityDigest } from "../program/Binding.ts";

export const PLAN_FORMAT = "fleet-plan";
export const PLAN_VERSION = 2;

/** A World as plain JSON that `decodeWorld` rebuilds (devices and deployments through their codecs). */
const worldJson = (w: World): unknown => ({
  _tag: "World",
  fleet: O.match(
    () => ({ _tag: "None" }),
    (ds: ReadonlyArray<Device>) => ({ _tag: "Some", value: ds.map((d) => DeviceCodec.encode(d)) }),
  )(declarations(w)),
  assignments: w.assignments.map((a) => ({
    _tag: "Assignment",
    selector: a.selector,
    deployments: a.deployments.map((d) => DeploymentCodec.encode(d)),
    priority: a.priority,
    name: a.name,
  })),
});

// -------------------------------------------------------------------------------------
// codec
// -------------------------------------------------------------------------------------

const Int = t.refinement(t.number, Number.isSafeInteger, "Integer");
const Count = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, "Count");
const Previous = t.type({ specHash: t.string, fingerprint: t.string });
const AssignedBy = t.type({ assignment: t.string, selector: t.string, priority: Int });
const Presence = t.keyof({ online: null, offline: null, unregistered: null });
const DeleteReason = t.union([t.type({ _tag: t.keyof({ Unassigned: null, DeviceRemoved: null }) }), t.type({ _tag: t.literal("RolledBack"), why: t.string })]);
const Key = { device: DeviceId, deployment: DeploymentName };
/** What a staged rollout adds to an action: the entry's prior spec hash (`null`: none). */
const Prior = t.partial({ prior: t.union([t.string, t.null]) });
const SHAPES = {
  Create: t.intersection([t.type({ _tag: t.literal("Create"), ...Key, spec: DeploymentCodec, specHash: t.string, reason: AssignedBy, presence: Presence }), Prior]),
  Update: t.intersection([
    t.type({ _tag: t.literal("Update"), ...Key, spec: DeploymentCodec, specHash: t.string, previous: Previous, reason: AssignedBy, presence: Presence }),
    t.partial({ repair: t.string, rollback: t.string }),
    Prior,
  ]),
  Delete: t.type({ _tag: t.literal("Delete"), ...Key, previous: Previous, reason: DeleteReason, presence: Presence }),
};

/** A rollout ledger write (diff/Ledger.ts) as a saved plan carries it. */
export const LedgerWriteCodec = t.union([
  t.type({ _tag: t.literal("Put"), record: RolloutRecordCodec }),
  t.type({ _tag: t.literal("Remove"), key: t.string }),
]);

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
  worldValue: t.unknown,
  reality: t.string,
  backend: t.string,
  now: DateFromISOString,
  actions: t.array(ActionCodec),
  skipped: t.array(SkippedCodec),
  summary: SummaryIn,
});
/** Present when the plan writes rollout ledger records. */
const SavedPlanLedger = t.partial({ ledger: t.array(LedgerWriteCodec) });

/** Decodes a saved plan's text, or says in one line why it is not one. */
export const decodeSavedPlan = (text: string): E.Either<string, SavedPlan> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left(`not JSON (${errorMessage(e)})`);
  }
  if (typeof json !== "object" || json === null || (json as { format?: unknown }).format !== PLAN_FORMAT)
    return E.left(`not a fleet saved plan (no "format": "${PLAN_FORMAT}")`);
  const v = (json as { version?: unknown }).version;
  if (typeof v === "number" && v > PLAN_VERSION) return E.left(`saved by a newer fleet (plan format version ${v}; this fleet reads ${PLAN_VERSION})`);
  if (typeof v === "number" && v < PLAN_VERSION) return E.left(`saved by an older fleet (plan format version ${v} does not carry its World); run fleet plan again`);
  const r = t.intersection([SavedPlanShape, SavedPlanLedger]).decode(json);
  if (E.isLeft(r)) {
    const msg = formatValidationErrors(r.left);
    return E.left(msg.length > 300 ? `${msg.slice(0, 297)}...` : msg);
  }
  const p = r.right;
  const w = decodeWorld(p.worldValue);
  if (E.isLeft(w)) return E.left(`worldValue: ${w.left.slice(0, 1).map(formatProblem).join("")}`);
  for (let i = 1; i < p.actions.length; i++)
    if (compareActions(p.actions[i - 1] as Action, p.actions[i] as Action) >= 0)
      return E.left(`actions.${i}: actions must be unique and in canonical order (by device, then deployment)`);
  const skipped: ReadonlyArray<Skipped> = p.skipped;
  return E.right({
    createdAt: p.createdAt,
    fleetVersion: p.fleetVersion,
    files: p.files,
    cwd: p.cwd,
    world: w.right,
    worldHash: p.world,
    reality: p.reality,
    backend: p.backend,
    now: p.now,
    plan: {
      actions: p.actions,
      conflicts: [],
      skipped,
      summary: summarise(p.actions, { unchanged: p.summary.unchanged, devices: p.summary.devices, conflicts: 0, skipped: skipped.length }),
      ...(p.ledger !== undefined ? { ledger: p.ledger as ReadonlyArray<LedgerWrite> } : {}),
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
      world: s.worldHash,
      reality: s.reality,
      backend: s.backend,
      now: s.now.toISOString(),
      summary: s.plan.summary,
      skipped: s.plan.skipped,
      actions: s.plan.actions,
      ...(s.plan.ledger !== undefined ? { ledger: s.plan.ledger.map((w) => (w._tag === "Put" ? { _tag: "Put", record: encodeRecord(w.record) } : w)) } : {}),
      worldValue: worldJson(s.world),
    },
    null,
    2,
  )}\n`;

// -------------------------------------------------------------------------------------
// files
// -------------------------------------------------------------------------------------

const reason = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? errorMessage(e);

/**
 * Writes a saved plan atomically (temporary file, fsync, rename: a crash
 * leaves the old file or the whole new one), readable by the owner only:
 * plans carry specs, env included. The temporary file never outlives a
 * failure (e.g. `--out` naming a directory).
 */
export const writeSavedPlan = async (path: string, s: SavedPlan): Promise<E.Either<string, void>> => {
  const target = resolve(path);
  try {
    await writeFileAtomic(target, `${target}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`, encodeSavedPlan(s));
    return E.right(undefined);
  } catch (e) {
    return E.left(`${path}: cannot save the plan (${reason(e)})`);
  }
};

/** Reads and decodes a saved plan file, or says in one line why it is not a usable one. */
export const readSavedPlan = async (path: string): Promise<E.Either<string, SavedPlan>> => {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return E.left(`${path}: cannot read the saved plan (${reason(e)})`);
  }
  return E.mapLeft((why: string) => `${path}: not a usable saved plan: ${why}`)(decodeSavedPlan(text));
};

/** Why a saved plan is not applied, in one line (the CLI edge of `BindingRefusal`). */
export const formatBindingRefusal = (r: BindingRefusal, path: string, saved: SavedPlan): string => {
  switch (r._tag) {
    case "WrongBackend":
      return `saved plan ${path} was made for backend ${r.planned}, not ${r.target}`;
    case "RealityChanged":
      return `saved plan is stale: Reality changed since ${path} was made (${saved.createdAt.toISOString()}); run fleet plan again`;
    case "WorldEdited":
      return `saved plan ${path} was edited: the World it carries does not hash to its world hash; run fleet plan again`;
    case "FleetFilesUnloadable":
      return `saved plan is stale: its fleet files no longer load (${r.message})`;
    case "FleetFilesChanged":
      return `saved plan is stale: the fleet files (${saved.files.join(", ")}) no longer give the World it was made from (${shortHash(r.saved)} → ${shortHash(r.loaded)}); run fleet plan again`;
    case "ActionsDiffer":
      return `saved plan ${path} was edited: its actions are not what its World and Reality give (${r.key}: the plan has ${r.saved}, the World gives ${r.expected}); run fleet plan again`;
  }
};
