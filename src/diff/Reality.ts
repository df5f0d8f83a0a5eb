/**
 * Reality: what the control plane can see of the fleet.
 *
 * - `devices`: devices that registered (their own labels and arch) with the
 *   time of their last heartbeat;
 * - `desired`: the desired-state entries already published, per device and
 *   deployment, each with the spec hash and a `fingerprint` (a KV revision,
 *   a Kubernetes resourceVersion) that later writes compare-and-set against;
 * - `observed`: what agents report per device and deployment;
 * - `damaged`: devices for which some record could not be decoded. The diff
 *   never acts on them: a record it cannot read is not evidence of absence.
 *
 * Maps are nested by device so the diff does one lookup per device.
 */
import * as t from "io-ts";
import { DateFromISOString } from "../algebra/Time.ts";
import { DeviceCodec, type Device } from "../algebra/Device.ts";
import * as Fleet from "../algebra/Fleet.ts";
import { SortedMap } from "../algebra/SortedMap.ts";
import { DeploymentCodec, type Deployment } from "../algebra/Deployment.ts";
import { DeviceId, DeploymentName } from "../algebra/Name.ts";
import type { RolloutKey, RolloutRecord } from "./Ledger.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface ReportedDevice {
  readonly device: Device;
  readonly lastHeartbeat?: Date;
}

export interface DesiredEntry {
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
  readonly specHash: string;
  /** Changes on every write of this entry; opaque. */
  readonly fingerprint: string;
  /** The published spec, when the backend stores it next to the hash. */
  readonly spec?: Deployment;
  /**
   * Why the stored entry cannot be trusted (its spec does not hash to its spec
   * hash: edited behind the control plane's back); the diff republishes it.
   */
  readonly tampered?: string;
  /** The signed revision of the entry, when it is signed (the next signature's must exceed it). */
  readonly revision?: number;
  /**
   * Set on entries a staged rollout wrote: the spec hash the entry held
   * before (`null`: there was no entry). Rollback restores it.
   */
  readonly prior?: string | null;
}

/** `Rejected`: the agent refused the entry (bad signature, replay, expiry…); `error` says why. */
export type Phase = "Pending" | "Running" | "Failed" | "Rejected";

/**
 * podman's health status: `starting` until a check passed (failures in the start
 * period do not count), `unhealthy` after `retries` failures in a row.
 */
export type Health = "starting" | "healthy" | "unhealthy";

export interface ObservedState {
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
  readonly phase: Phase;
  /** The spec the agent ran or is running. */
  readonly specHash?: string;
  readonly error?: string;
  /**
   * Present only when the spec runs (`Running`) and declares a health check: the
   * worst of its services' statuses. Absent with a declared check: not known to be healthy.
   */
  readonly health?: Health;
  readonly at: Date;
}

export interface Reality {
  readonly devices: ReadonlyMap<DeviceId, ReportedDevice>;
  readonly desired: ReadonlyMap<DeviceId, ReadonlyMap<DeploymentName, DesiredEntry>>;
  readonly observed: ReadonlyMap<DeviceId, ReadonlyMap<DeploymentName, ObservedState>>;
  readonly damaged: ReadonlyMap<DeviceId, string>;
  /** Ledgers of staged rollouts (diff/Ledger.ts), by rollout key; absent: none. */
  readonly rollouts?: ReadonlyMap<RolloutKey, RolloutRecord>;
}

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

const registeredCache = new WeakMap<ReadonlyMap<DeviceId, ReportedDevice>, Fleet.Fleet>();

/**
 * The registered devices as a fleet (in id order): the fleet a World without
 * a declared one is diffed against. A backend's map that cannot change
 * (`SortedMap`: the local state's) gives it once to every caller (a million
 * devices are a pass each otherwise); any other map is read again each time.
 */
export const registeredFleet = (r: Reality): Fleet.Fleet => {
  const immutable = r.devices instanceof SortedMap;
  const cached = immutable ? registeredCache.get(r.devices) : undefined;
  if (cached !== undefined) return cached;
  const devices: Device[] = [];
  r.devices.forEach((d) => devices.push(d.device));
  const fleet = Fleet.fromDevices(devices);
  if (immutable) registeredCache.set(r.devices, fleet);
  return fleet;
};

/** The registered devices, in id order: what a fleet file's function export receives. */
export const registeredDevices = (r: Reality): ReadonlyArray<Device> => registeredFleet(r).devices;

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

export const emptyReality: Reality = Object.freeze({
  devices: new Map(),
  desired: new Map(),
  observed: new Map(),
  damaged: new Map(),
});

const nest = <V extends { readonly device: DeviceId; readonly deployment: DeploymentName }>(
  entries: Iterable<V>,
): Map<DeviceId, Map<DeploymentName, V>> => {
  const out = new Map<DeviceId, Map<DeploymentName, V>>();
  for (const e of entries) {
    let m = out.get(e.device);
    if (m === undefined) out.set(e.device, (m = new Map()));
    m.set(e.deployment, e);
  }
  return out;
};

/** Builds a Reality from flat lists (interpreters read entries one by one). */
export const reality = (input: {
  readonly devices?: Iterable<ReportedDevice>;
  readonly desired?: Iterable<DesiredEntry>;
  readonly observed?: Iterable<ObservedState>;
  readonly damaged?: Iterable<readonly [DeviceId, string]>;
}): Reality => ({
  devices: new Map([...(input.devices ?? [])].map((r) => [r.device.id, r])),
  desired: nest(input.desired ?? []),
  observed: nest(input.observed ?? []),
  damaged: new Map(input.damaged ?? []),
});

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

export const desiredEntries = function* (r: Reality): Generator<DesiredEntry> {
  for (const m of r.desired.values()) yield* m.values();
};
export const observedEntries = function* (r: Reality): Generator<ObservedState> {
  for (const m of r.observed.values()) yield* m.values();
};
export const desiredCount = (r: Reality): number => {
  let n = 0;
  for (const m of r.desired.values()) n += m.size;
  return n;
};

// -------------------------------------------------------------------------------------
// codecs (for state files; wire formats of each transport live with their interpreter)
// -------------------------------------------------------------------------------------


export const ReportedDeviceCodec = t.intersection([t.type({ device: DeviceCodec }), t.partial({ lastHeartbeat: DateFromISOString })]);
export const DesiredEntryCodec = t.intersection([
  t.type({ device: DeviceId, deployment: DeploymentName, specHash: t.string, fingerprint: t.string }),
  t.partial({ spec: DeploymentCodec }),
]);
export const PhaseCodec = t.keyof({ Pending: null, Running: null, Failed: null, Rejected: null });
export const HealthCodec = t.keyof({ starting: null, healthy: null, unhealthy: null });
export const ObservedStateCodec = t.intersection([
  t.type({ device: DeviceId, deployment: DeploymentName, phase: PhaseCodec, at: DateFromISOString }),
  t.partial({ specHash: t.string, error: t.string, health: HealthCodec }),
]);

/** Flat JSON form of a Reality: `{ devices: [...], desired: [...], observed: [...], damaged: [[id, why]] }`. */
export const RealityCodec = new t.Type<Reality, unknown, unknown>(
  "Reality",
  (u): u is Reality => typeof u === "object" && u !== null && typeof (u as Reality).desired?.get === "function",
  (u, c) => {
    const flat = t
      .type({
        devices: t.array(ReportedDeviceCodec),
        desired: t.array(DesiredEntryCodec),
        observed: t.array(ObservedStateCodec),
        damaged: t.array(t.tuple([DeviceId, t.string])),
      })
      .validate(u, c);
    return flat._tag === "Left" ? flat : t.success(reality(flat.right));
  },
  (r) => ({
    devices: [...r.devices.values()].map((d) => ({
      device: DeviceCodec.encode(d.device),
      ...(d.lastHeartbeat ? { lastHeartbeat: d.lastHeartbeat.toISOString() } : {}),
    })),
    desired: [...desiredEntries(r)],
    observed: [...observedEntries(r)].map((o) => ({ ...o, at: o.at.toISOString() })),
    damaged: [...r.damaged.entries()],
  }),
);
