/**
 * Reading a fleet's Reality from its four KV buckets.
 *
 * Each bucket is read in one bulk scan (latest value per key, concurrently).
 * Every key and value is decoded; one that cannot be decoded becomes a
 * `ReadProblem` with its bucket and key and is skipped, and the device its key
 * names (when it names one) goes into `damaged`, so the diff leaves that
 * device alone rather than reading a missing record as absence. Deleted keys
 * (tombstones) are simply absent.
 *
 * The fingerprint of a desired entry is its KV revision (the stream
 * sequence), which `apply` compare-and-sets against.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as E from "fp-ts/lib/Either.js";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Device } from "../../algebra/Device.ts";
import type { DeploymentName, DeviceId } from "../../algebra/Name.ts";
import { reality, type DesiredEntry, type ObservedState, type ReportedDevice } from "../../diff/Reality.ts";
import { keyOf as keyOfRecord, type RolloutKey, type RolloutRecord } from "../../diff/Ledger.ts";
import { OrdReadProblem, type ReadProblem, type ReadResult } from "../Interpreter.ts";
import { BUCKET } from "./Buckets.ts";
import { scanLatest, type ScannedEntry } from "./Scan.ts";
import {
  decodeDeviceInfoValue,
  decodeRolloutValue,
  decodeDeviceStateValue,
  decodeHeartbeatValue,
  formatWireError,
  desiredValueDecoder,
  parseDeviceKey,
  parseEntryKey,
  type KeyProblem,
} from "./wire.ts";

const byKey = Ord.contramap((e: ScannedEntry) => e.key)(S.Ord).compare;

export const readFleet = async (js: JetStreamClient): Promise<ReadResult> => {
  // Keys in code-unit order, so the Reality's maps iterate in a defined order.
  const [desiredRaw, infoRaw, stateRaw, heartbeatRaw, rolloutsRaw] = (
    await Promise.all([
      scanLatest(js, BUCKET.desired),
      scanLatest(js, BUCKET.info),
      scanLatest(js, BUCKET.state),
      scanLatest(js, BUCKET.heartbeat),
      scanLatest(js, BUCKET.rollouts),
    ])
  ).map((entries) => entries.sort(byKey)) as [ScannedEntry[], ScannedEntry[], ScannedEntry[], ScannedEntry[], ScannedEntry[]];

  const problems: ReadProblem[] = [];
  const damaged = new Map<DeviceId, string>();
  const report = (source: string, key: string, message: string, device?: DeviceId): void => {
    problems.push({ source, key, message });
    if (device !== undefined && !damaged.has(device)) damaged.set(device, `${source} ${key}: ${message}`);
  };
  const keyProblem = (source: string, key: string, p: KeyProblem): void => report(source, key, p.message, p.device);

  // desired-state
  const desired: DesiredEntry[] = [];
  const decodeDesired = desiredValueDecoder();
  for (const e of desiredRaw) {
    if (e.operation !== "PUT") continue;
    const k = parseEntryKey(e.key);
    if (E.isLeft(k)) {
      keyProblem(BUCKET.desired, e.key, k.left);
      continue;
    }
    const v = decodeDesired(e.value, k.right);
    if (E.isLeft(v)) {
      report(BUCKET.desired, e.key, formatWireError(v.left), k.right.device);
      continue;
    }
    const signed = v.right.signature?.revision;
    desired.push({
      device: k.right.device,
      deployment: k.right.deployment,
      specHash: v.right.specHash,
      fingerprint: String(e.revision),
      spec: v.right.spec,
      ...(v.right.tampered !== undefined ? { tampered: v.right.tampered } : {}),
      ...(signed !== undefined ? { revision: signed } : {}),
      ...(v.right.prior !== undefined ? { prior: v.right.prior } : {}),
    });
  }

  // device-heartbeat (before device-info, which it annotates)
  const heartbeats = new Map<DeviceId, Date>();
  for (const e of heartbeatRaw) {
    if (e.operation !== "PUT") continue;
    const k = parseDeviceKey(e.key);
    if (E.isLeft(k)) {
      keyProblem(BUCKET.heartbeat, e.key, k.left);
      continue;
    }
    const v = decodeHeartbeatValue(e.value);
    if (E.isLeft(v)) {
      report(BUCKET.heartbeat, e.key, formatWireError(v.left), k.right);
      continue;
    }
    heartbeats.set(k.right, v.right.time);
    // An agent names the other instances it hears heartbeating as its device: a second agent started with the same id.
    const others = v.right.others ?? [];
    if (others.length > 0) {
      const all = [v.right.instance ?? "?", ...others].join(", ");
      problems.push({ source: BUCKET.heartbeat, key: e.key, kind: "DuplicateAgent", message: `more than one agent runs as this device (instances ${all}); stop all but one` });
    }
  }

  // device-info
  const devices: ReportedDevice[] = [];
  for (const e of infoRaw) {
    if (e.operation !== "PUT") continue;
    const k = parseDeviceKey(e.key);
    if (E.isLeft(k)) {
      keyProblem(BUCKET.info, e.key, k.left);
      continue;
    }
    const v = decodeDeviceInfoValue(e.value, k.right);
    if (E.isLeft(v)) {
      report(BUCKET.info, e.key, formatWireError(v.left), k.right);
      continue;
    }
    const device: Device = v.right;
    const hb = heartbeats.get(device.id);
    devices.push(hb === undefined ? { device } : { device, lastHeartbeat: hb });
  }

  // device-state
  const observed: ObservedState[] = [];
  for (const e of stateRaw) {
    if (e.operation !== "PUT") continue;
    const k = parseEntryKey(e.key);
    if (E.isLeft(k)) {
      keyProblem(BUCKET.state, e.key, k.left);
      continue;
    }
    const v = decodeDeviceStateValue(e.value);
    if (E.isLeft(v)) {
      report(BUCKET.state, e.key, formatWireError(v.left), k.right.device);
      continue;
    }
    const s = v.right;
    observed.push({
      device: k.right.device,
      deployment: k.right.deployment as DeploymentName,
      phase: s.phase,
      at: s.time,
      ...(s.specHash !== undefined ? { specHash: s.specHash } : {}),
      ...(s.error !== undefined ? { error: s.error } : {}),
      ...(s.health !== undefined ? { health: s.health } : {}),
    });
  }

  // fleet-rollouts. An unreadable ledger is a problem (shown by plan and status); its rollout
  // has no ledger in this Reality, so the step treats it as just starting (docs/nats.md).
  const rollouts = new Map<RolloutKey, RolloutRecord>();
  for (const e of rolloutsRaw) {
    if (e.operation !== "PUT") continue;
    const v = decodeRolloutValue(e.value, e.key);
    if (E.isLeft(v)) report(BUCKET.rollouts, e.key, formatWireError(v.left));
    else rollouts.set(keyOfRecord(v.right), v.right);
  }

  problems.sort(OrdReadProblem.compare);
  const r = reality({ devices, desired, observed, damaged });
  return { reality: rollouts.size > 0 ? { ...r, rollouts } : r, problems };
};
