/**
 * What the dashboard shows, as JSON-ready data computed by the same pure
 * functions the CLI uses (`status`, `diff`, `resolver`, `parseSelector`):
 * the per-deployment counts, the latest errors, the device table (filterable
 * by a selector) and the pending plan. Pure: `now` is a parameter.
 *
 * Laws (test/ui/snapshot.test.ts):
 * - the counts are `status`'s counts, and matched = succeeded + failed + pending + offline + unhealthy;
 * - filtering by a selector keeps exactly the devices the compiled selector
 *   accepts, in device-id order; an empty selector keeps every device;
 * - the digest ignores `now` unless a device's presence changes with it.
 */
import { createHash } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../../algebra/Device.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import { diff, presence } from "../../diff/Diff.ts";
import { leftAloneText, targets } from "../../diff/Targets.ts";
import { conflictText } from "../PlanText.ts";
import type { Action, Conflict } from "../../diff/Plan.ts";
import type { Reality } from "../../diff/Reality.ts";
import { status, type DeviceStatus, type FleetStatus } from "../../diff/Status.ts";
import type { ReadProblem } from "../../interpreters/Interpreter.ts";
import { parseSelector, type SelectorError } from "../../selectors/Parse.ts";
import { compile } from "../../selectors/Selector.ts";
import type { World } from "../../world/World.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One read of the backend with the World loaded against it: everything a view needs. */
export interface Observation {
  readonly world: World;
  readonly reality: Reality;
  readonly problems: ReadonlyArray<ReadProblem>;
  readonly now: Date;
  readonly offlineAfterMs: number;
}

export interface DeploymentBar {
  readonly deployment: string;
  readonly matched: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly pending: number;
  readonly offline: number;
  readonly unhealthy: number;
}

export interface ErrorLine {
  readonly device: string;
  readonly deployment: string;
  readonly error: string;
  /** ISO 8601. */
  readonly at: string;
}

export interface StatusView {
  readonly deployments: ReadonlyArray<DeploymentBar>;
  readonly devices: { readonly total: number; readonly online: number; readonly offline: number; readonly unregistered: number; readonly unreadable: number };
  /** Newest first, at most `MAX_ERRORS`. */
  readonly errors: ReadonlyArray<ErrorLine>;
  /** Records the backend could not decode (skipped, never fatal). */
  readonly problems: ReadonlyArray<ReadProblem>;
}

export interface DeviceRow {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly arch: string;
  readonly presence: DeviceStatus["presence"] | "unreadable";
  readonly lastHeartbeat?: string;
  /** Why the device's records cannot be read; the diff leaves it alone. */
  readonly unreadable?: string;
  readonly deployments: ReadonlyArray<{ readonly deployment: string; readonly state: string; readonly error?: string }>;
}

export interface PlanRow {
  readonly op: "create" | "update" | "delete";
  readonly device: string;
  readonly deployment: string;
  readonly presence: string;
  /** Which assignment asks for it, or why it is deleted. */
  readonly why: string;
}

export interface PlanView {
  readonly summary: { readonly create: number; readonly update: number; readonly delete: number; readonly unchanged: number; readonly conflicts: number; readonly skipped: number };
  readonly actions: ReadonlyArray<PlanRow>;
  readonly conflicts: ReadonlyArray<string>;
  readonly skipped: ReadonlyArray<{ readonly device: string; readonly reason: string }>;
}

export const MAX_ERRORS = 10;

/** Newest error first; equal times by device, then deployment, so the list is deterministic. */
export const OrdErrorLineNewestFirst: Ord.Ord<ErrorLine> = Ord.getMonoid<ErrorLine>().concat(
  Ord.reverse(Ord.contramap((e: ErrorLine) => e.at)(S.Ord)),
  Ord.getMonoid<ErrorLine>().concat(
    Ord.contramap((e: ErrorLine) => e.device)(S.Ord),
    Ord.contramap((e: ErrorLine) => e.deployment)(S.Ord),
  ),
);

export const OrdDeviceRowById: Ord.Ord<DeviceRow> = Ord.contramap((d: DeviceRow) => d.id)(S.Ord);

// -------------------------------------------------------------------------------------
// views
// -------------------------------------------------------------------------------------

/**
 * One `status` per observation, however many views and requests use it: an
 * observation is immutable, made once per read of the backend.
 */
const statusCache = new WeakMap<Observation, FleetStatus>();
const statusOf = (o: Observation): FleetStatus => {
  let st = statusCache.get(o);
  if (st === undefined) statusCache.set(o, (st = status(o.world, o.reality, { now: o.now, offlineAfterMs: o.offlineAfterMs })));
  return st;
};

export const statusView = (o: Observation): StatusView => {
  const st = statusOf(o);
  const errors: ErrorLine[] = [];
  for (const d of st.devices)
    for (const x of d.deployments)
      if ((x.state === "Failed" || x.state === "Rejected") && x.error !== undefined && x.at !== undefined) errors.push({ device: d.device, deployment: x.deployment, error: x.error, at: x.at.toISOString() });
  const count = (p: DeviceStatus["presence"]): number => st.devices.filter((d) => d.presence === p).length;
  return {
    deployments: st.deployments.map((d) => ({ deployment: d.deployment, matched: d.matched, succeeded: d.succeeded, failed: d.failed, pending: d.pending, offline: d.offline, unhealthy: d.unhealthy })),
    devices: { total: st.devices.length + o.reality.damaged.size, online: count("online"), offline: count("offline"), unregistered: count("unregistered"), unreadable: o.reality.damaged.size },
    errors: [...errors].sort(OrdErrorLineNewestFirst.compare).slice(0, MAX_ERRORS),
    problems: o.problems,
  };
};

/** Every device the diff evaluates (the declared fleet, else the registered devices), plus unreadable ones, by id. */
const deviceRows = (o: Observation): ReadonlyArray<{ readonly device: Device; readonly row: DeviceRow }> => {
  const st = statusOf(o);
  const byId = new Map<DeviceId, DeviceStatus>(st.devices.map((d) => [d.device, d]));
  const tg = targets(o.world, o.reality);
  const rows = tg.fleet.devices.map((device) => {
    const alone = tg.leftAlone.get(device.id);
    const s = byId.get(device.id);
    const damage = o.reality.damaged.get(device.id);
    const hb = o.reality.devices.get(device.id)?.lastHeartbeat;
    const row: DeviceRow = {
      id: device.id,
      labels: device.labels,
      arch: device.arch,
      presence: damage !== undefined ? "unreadable" : (s?.presence ?? presence(o.reality, device.id, o.now.getTime(), o.offlineAfterMs)),
      ...(hb !== undefined ? { lastHeartbeat: hb.toISOString() } : {}),
      ...(damage !== undefined ? { unreadable: damage } : alone !== undefined ? { unreadable: leftAloneText(alone) } : {}),
      deployments: (s?.deployments ?? []).map((x) => ({ deployment: x.deployment, state: x.state, ...(x.error !== undefined ? { error: x.error } : {}) })),
    };
    return { device, row };
  });
  return rows.sort(Ord.contramap((r: { readonly row: DeviceRow }) => r.row)(OrdDeviceRowById).compare);
};

export interface DevicesView {
  readonly selector: string;
  readonly total: number;
  readonly devices: ReadonlyArray<DeviceRow>;
}

/** The device table, narrowed to the devices `selectorText` accepts (parsed by the library). */
export const devicesView = (o: Observation, selectorText: string): E.Either<SelectorError, DevicesView> => {
  const parsed = parseSelector(selectorText);
  if (E.isLeft(parsed)) return parsed;
  const accepts = compile(parsed.right);
  const all = deviceRows(o);
  return E.right({ selector: selectorText, total: all.length, devices: all.filter((x) => accepts(x.device)).map((x) => x.row) });
};

const planRow = (a: Action): PlanRow => {
  switch (a._tag) {
    case "Create":
      return { op: "create", device: a.device, deployment: a.deployment, presence: a.presence, why: `assigned by ${a.reason.assignment}` };
    case "Update":
      return { op: "update", device: a.device, deployment: a.deployment, presence: a.presence, why: `new spec from ${a.reason.assignment}` };
    case "Delete":
      return { op: "delete", device: a.device, deployment: a.deployment, presence: a.presence, why: a.reason._tag === "Unassigned" ? "no longer assigned" : "device removed from the fleet" };
  }
};

/** What `fleet apply` would do now (the dashboard never applies it). */
export const planView = (o: Observation): PlanView => {
  const plan = diff(o.world, o.reality, { now: o.now, offlineAfterMs: o.offlineAfterMs });
  const s = plan.summary;
  return {
    summary: { create: s.create, update: s.update, delete: s.delete, unchanged: s.unchanged, conflicts: s.conflicts, skipped: s.skipped },
    actions: plan.actions.map(planRow),
    conflicts: plan.conflicts.map(conflictText),
    skipped: plan.skipped.map((x) => ({ device: x.device, reason: x.reason })),
  };
};

/**
 * A digest of everything the page shows: when it changes, the server tells
 * the page to refetch. Heartbeat times are left out (they move on every
 * beat); what they decide, presence, is in.
 */
export const digest = (o: Observation): string => {
  const devices = E.getOrElse((): DevicesView => ({ selector: "", total: 0, devices: [] }))(devicesView(o, ""));
  // Plain JSON, not canonical JSON: the views are built in a fixed key order
  // and every list is ordered, and canonicalising costs ten times more on a
  // large fleet. A label map read in another key order only wakes pages once.
  const text = JSON.stringify({
    status: statusView(o),
    devices: devices.devices.map(({ lastHeartbeat: _, ...rest }) => rest),
    plan: planView(o),
  });
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
};
