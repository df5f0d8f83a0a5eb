/**
 * The machine-readable output of `--json`: JSON lines, one object per line,
 * each with a `type` and the format version `v` (currently 1). Version 1 only
 * ever gains fields and line types; a change that removes or changes a field
 * bumps `v`. Documented in docs/cli.md.
 *
 * Lines come in a defined order: for a plan, `plan`, then `warning`s
 * (unreadable records), `world_warning`s (likely mistakes in the World),
 * `conflict`s, `skipped`, `action`s (canonical order), `rollout`s and
 * `ledger` writes (staged rollouts only) and one `summary`;
 * apply adds one `outcome` per action (plan order) and one `apply`; status
 * ends with one `status_summary`, even when nothing is assigned.
 */
import type { Deployment } from "../algebra/Deployment.ts";
import type { ActionOutcome, ReadProblem } from "../interpreters/Interpreter.ts";
import { matchConflict, waveCounts, type Action, type Conflict, type Plan, type RolloutProgress, type Skipped, type Summary } from "../diff/Plan.ts";
import { encodeRecord, ledgerWriteKey, type LedgerWrite } from "../diff/Ledger.ts";
import type { DeploymentStatusSummary, DeviceStatus, FleetStatus } from "../diff/Status.ts";
import { DeviceCodec } from "../algebra/Device.ts";
import * as O from "fp-ts/lib/Option.js";
import { formatWorldWarning, matchWorldWarning, type WorldWarning } from "../program/Warnings.ts";

export const JSON_LINES_VERSION = 1;

type Line = { readonly type: string } & Record<string, unknown>;

export const line = ({ type, ...rest }: Line): string => JSON.stringify({ type, v: JSON_LINES_VERSION, ...rest });

export interface PlanHeader {
  readonly world: string;
  readonly reality: string;
  readonly backend: string;
  readonly files: ReadonlyArray<string>;
  readonly now: Date;
  readonly saved?: string;
}

export const planHeader = (h: PlanHeader): string =>
  line({ type: "plan", world: h.world, reality: h.reality, backend: h.backend, files: h.files, now: h.now.toISOString(), ...(h.saved !== undefined ? { saved: h.saved } : {}) });

export const warning = (p: ReadProblem): string => line({ type: "warning", source: p.source, key: p.key, message: p.message });

/** A likely mistake in the World: `kind` is `unknown-label-key`, `unmatched-selector` or `unassigned-deployment`. */
export const worldWarning = (w: WorldWarning): string =>
  line({
    type: "world_warning",
    ...matchWorldWarning<Record<string, unknown>>({
      UnknownLabelKey: (x) => ({ kind: "unknown-label-key", assignment: x.assignment, key: x.key, ...(O.isSome(x.didYouMean) ? { didYouMean: x.didYouMean.value } : {}) }),
      UnmatchedSelector: (x) => ({ kind: "unmatched-selector", assignment: x.assignment, selector: x.selector }),
      UnassignedDeployment: (x) => ({ kind: "unassigned-deployment", deployment: x.deployment }),
    })(w),
    message: formatWorldWarning(w),
  });

export const conflict: (c: Conflict) => string = matchConflict({
  DeploymentConflict: (c) => line({ type: "conflict", kind: "deployment", device: c.device, deployment: c.deployment, priority: c.priority, candidates: c.candidates }),
  DeviceConflict: (c) => line({ type: "conflict", kind: "device", device: c.device, declarations: c.declarations.map((d) => DeviceCodec.encode(d)) }),
  HostPortConflict: (c) => line({ type: "conflict", kind: "host-port", device: c.device, protocol: c.protocol, hostPort: c.hostPort, bindings: c.bindings }),
  MountConflict: (c) => line({ type: "conflict", kind: "mount", device: c.device, deployment: c.deployment, service: c.service, target: c.target, sources: c.sources }),
});

export const skipped = (s: Skipped): string => line({ type: "skipped", device: s.device, reason: s.reason });

const op = (a: Action): string => (a._tag === "Create" ? "create" : a._tag === "Update" ? "update" : "delete");

export const action = (a: Action): string => {
  switch (a._tag) {
    case "Create":
    case "Update":
      return line({
        type: "action",
        op: op(a),
        device: a.device,
        deployment: a.deployment,
        specHash: a.specHash,
        ...(a._tag === "Update" ? { previous: a.previous } : {}),
        presence: a.presence,
        assignedBy: a.reason,
        ...(a._tag === "Update" && a.repair !== undefined ? { repair: a.repair } : {}),
        ...(a._tag === "Update" && a.rollback !== undefined ? { rollback: a.rollback } : {}),
        ...(a.prior !== undefined ? { prior: a.prior } : {}),
        spec: a.spec as Deployment,
      });
    case "Delete":
      return line({
        type: "action",
        op: op(a),
        device: a.device,
        deployment: a.deployment,
        previous: a.previous,
        presence: a.presence,
        deleteReason: a.reason._tag === "Unassigned" ? "unassigned" : a.reason._tag === "RolledBack" ? "rolled-back" : "device-removed",
        ...(a.reason._tag === "RolledBack" ? { why: a.reason.why } : {}),
      });
  }
};

export const summary = (s: Summary): string =>
  line({
    type: "summary",
    create: s.create,
    update: s.update,
    delete: s.delete,
    unchanged: s.unchanged,
    devices: s.devices,
    notOnline: s.notOnline,
    conflicts: s.conflicts,
    skipped: s.skipped,
    changes: s.create + s.update + s.delete > 0,
  });

/** A staged rollout's progress (`RolloutProgress`, dates as ISO strings): what `fleet plan` and `fleet status` show. */
export const rolloutFields = (r: RolloutProgress, o: { readonly waitingIds: boolean } = { waitingIds: true }): Record<string, unknown> => ({
  deployment: r.deployment,
  target: r.target,
  state: r.state,
  wave: r.wave,
  waves: r.waves.map((w) => ({
    index: w.index,
    definition: w.definition,
    threshold: w.threshold,
    ...waveCounts(w),
    gate: w.gate,
    ...(w.openedAt !== undefined ? { openedAt: w.openedAt.toISOString() } : {}),
    ...(o.waitingIds ? { waiting: w.waiting } : { waiting: w.waiting.length }),
  })),
  ...(r.budget !== undefined ? { budget: r.budget } : {}),
  ...(r.failure !== undefined ? { failure: r.failure } : {}),
  problems: r.problems,
});

export const rollout = (r: RolloutProgress): string => line({ type: "rollout", ...rolloutFields(r) });

/** A rollout ledger write: `op: "put"` with the record (its JSON form), or `op: "remove"` with the key. */
export const ledger = (w: LedgerWrite): string =>
  w._tag === "Put" ? line({ type: "ledger", op: "put", key: ledgerWriteKey(w), record: encodeRecord(w.record) }) : line({ type: "ledger", op: "remove", key: w.key });

/** Every line of a plan, in the documented order. */
/** A plan's lines, one at a time (a million actions are written as they are encoded, never held as text). */
export function* planLines(plan: Plan, problems: ReadonlyArray<ReadProblem>, warnings: ReadonlyArray<WorldWarning> = []): Generator<string> {
  for (const p of problems) yield warning(p);
  for (const w of warnings) yield worldWarning(w);
  for (const c of plan.conflicts) yield conflict(c);
  for (const s of plan.skipped) yield skipped(s);
  for (const a of plan.actions) yield action(a);
  for (const r of plan.rollouts ?? []) yield rollout(r);
  for (const l of plan.ledger ?? []) yield ledger(l);
  yield summary(plan.summary);
}

export const outcome = (o: ActionOutcome): string =>
  o._tag === "Applied"
    ? line({ type: "outcome", result: "applied", op: op(o.action), device: o.action.device, deployment: o.action.deployment, ...(o.fingerprint !== undefined ? { fingerprint: o.fingerprint } : {}) })
    : line({ type: "outcome", result: "failed", op: op(o.action), device: o.action.device, deployment: o.action.deployment, error: o.error });

export const applied = (c: { readonly created: number; readonly updated: number; readonly deleted: number; readonly failed: number }): string =>
  line({ type: "apply", created: c.created, updated: c.updated, deleted: c.deleted, failed: c.failed });

export const error = (message: string): string => line({ type: "error", message });

export const deploymentStatus = (s: DeploymentStatusSummary): string =>
  line({
    type: "deployment_status",
    deployment: s.deployment,
    matched: s.matched,
    succeeded: s.succeeded,
    failed: s.failed,
    pending: s.pending,
    offline: s.offline,
    unhealthy: s.unhealthy,
    ...(s.lastError !== undefined ? { lastError: { device: s.lastError.device, error: s.lastError.error, at: s.lastError.at.toISOString() } } : {}),
  });

export const deviceStatus = (d: DeviceStatus): string =>
  line({
    type: "device_status",
    device: d.device,
    presence: d.presence,
    ...(d.lastHeartbeat !== undefined ? { lastHeartbeat: d.lastHeartbeat.toISOString() } : {}),
    ...(d.leftAlone !== undefined ? { leftAlone: d.leftAlone } : {}),
    deployments: d.deployments.map((x) => ({
      deployment: x.deployment,
      state: x.state,
      ...(x.health !== undefined ? { health: x.health } : {}),
      specHash: x.specHash,
      ...(x.publishedHash !== undefined ? { publishedHash: x.publishedHash } : {}),
      ...(x.observedHash !== undefined ? { observedHash: x.observedHash } : {}),
      ...(x.error !== undefined ? { error: x.error } : {}),
      ...(x.at !== undefined ? { at: x.at.toISOString() } : {}),
    })),
  });

/** A staged rollout in `status --json` (`waiting` is a count there, not the device ids). */
export const rolloutStatus = (r: RolloutProgress): string => line({ type: "rollout_status", ...rolloutFields(r, { waitingIds: false }) });

/** The last line of `status --json`: counts, so that an empty fleet still prints a line. */
export const statusSummary = (st: FleetStatus): string => {
  const online = st.devices.filter((d) => d.presence === "online").length;
  const offline = st.devices.filter((d) => d.presence === "offline").length;
  return line({ type: "status_summary", deployments: st.deployments.length, devices: st.devices.length, online, offline, unregistered: st.devices.length - online - offline });
};
