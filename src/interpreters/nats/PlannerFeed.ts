/**
 * Keeping a Planner fed from a NATS fleet's change streams.
 *
 * `recordChanges()` turns one KV record (bucket, key, revision, operation,
 * value) into Planner events, decoding it exactly as `readFleet` (Read.ts)
 * decodes a bulk read, so that a Planner fed every record ends where a fresh
 * read would: a record that cannot be decoded removes what its key held and
 * marks its device damaged, with the message a read would give (the first
 * unreadable record of the device in read order: desired-state, heartbeat,
 * device-info, device-state, each by key); a later good record of that key
 * repairs it. A heartbeat whose device has not registered is kept until it
 * does (a Reality holds heartbeats only on registered devices).
 *
 * `feedPlanner` watches the four buckets (Watch.ts: latest value per key, then
 * every change), takes everything up to the first catch-up as one batch
 * (`applyAll`: each device planned once), then applies each change as it
 * comes. Time stays an input: the caller moves the Planner's `now` with a
 * `Tick` event. After a reconnect the ordered consumers recreate themselves
 * and redeliver the latest values, which the events take idempotently; a
 * key deleted while disconnected is only noticed by a fresh feed.
 */
import * as E from "fp-ts/lib/Either.js";
import * as S from "fp-ts/lib/string.js";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Device } from "../../algebra/Device.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import type { DiffOptions } from "../../diff/Diff.ts";
import { planner, type PlanChange, type Planner, type PlannerEvent } from "../../diff/Planner.ts";
import { emptyReality } from "../../diff/Reality.ts";
import type { World } from "../../world/World.ts";
import { BUCKET } from "./Buckets.ts";
import { watchKeys, type KeyWatch, type KvRecord } from "./Watch.ts";
import {
  decodeDeviceInfoValue,
  decodeDeviceStateValue,
  decodeHeartbeatValue,
  desiredValueDecoder,
  formatWireError,
  parseDeviceKey,
  parseEntryKey,
  type KeyProblem,
} from "./wire.ts";

// -------------------------------------------------------------------------------------
// records to events
// -------------------------------------------------------------------------------------

export type WatchedBucket = "desired" | "heartbeat" | "info" | "state";

/** The order `readFleet` reads the buckets in: the first unreadable record in it names a device's damage. */
const READ_ORDER: { readonly [B in WatchedBucket]: string } = { desired: "0", heartbeat: "1", info: "2", state: "3" };

export interface RecordChanges {
  /** The Planner events one record means (none, one, or a few). */
  readonly take: (bucket: WatchedBucket, record: KvRecord) => ReadonlyArray<PlannerEvent>;
}

export const recordChanges = (): RecordChanges => {
  const decodeDesired = desiredValueDecoder();
  /** Per device, its unreadable records: read-order key → the message a read gives. */
  const problems = new Map<DeviceId, Map<string, string>>();
  const registered = new Map<DeviceId, Device>();
  const heartbeats = new Map<DeviceId, Date>();

  const damageOf = (id: DeviceId): string | undefined => {
    const m = problems.get(id);
    if (m === undefined) return undefined;
    let first: string | undefined;
    for (const k of m.keys()) if (first === undefined || S.Ord.compare(k, first) < 0) first = k;
    return first === undefined ? undefined : m.get(first);
  };

  /** Records (or clears) the problem of one key, and says what it does to the device's damage. */
  const problemAt = (bucket: WatchedBucket, key: string, device: DeviceId | undefined, message: string | undefined): ReadonlyArray<PlannerEvent> => {
    if (device === undefined) return [];
    const before = damageOf(device);
    const at = `${READ_ORDER[bucket]}${key}`;
    let m = problems.get(device);
    if (message !== undefined) {
      if (m === undefined) problems.set(device, (m = new Map()));
      m.set(at, `${BUCKET[bucket]} ${key}: ${message}`);
    } else if (m !== undefined) {
      m.delete(at);
      if (m.size === 0) problems.delete(device);
    }
    const after = damageOf(device);
    if (after === before) return [];
    return after === undefined ? [{ _tag: "Repaired", id: device }] : [{ _tag: "Damaged", id: device, why: after }];
  };
  // A deleted key is not read at all (a bulk read skips tombstones before parsing keys): its problem goes with it.
  const keyProblem = (bucket: WatchedBucket, e: KvRecord, p: KeyProblem): ReadonlyArray<PlannerEvent> =>
    problemAt(bucket, e.key, p.device, e.operation === "PUT" ? p.message : undefined);

  const registration = (id: DeviceId): PlannerEvent => {
    const device = registered.get(id) as Device;
    const hb = heartbeats.get(id);
    return { _tag: "DeviceReported", device: hb === undefined ? { device } : { device, lastHeartbeat: hb } };
  };

  const take = (bucket: WatchedBucket, e: KvRecord): ReadonlyArray<PlannerEvent> => {
    const put = e.operation === "PUT";
    switch (bucket) {
      case "desired": {
        const k = parseEntryKey(e.key);
        if (E.isLeft(k)) return keyProblem(bucket, e, k.left);
        const { device, deployment } = k.right;
        const gone: PlannerEvent = { _tag: "DesiredDeleted", device, deployment };
        if (!put) return [gone, ...problemAt(bucket, e.key, device, undefined)];
        const v = decodeDesired(e.value, k.right);
        if (E.isLeft(v)) return [gone, ...problemAt(bucket, e.key, device, formatWireError(v.left))];
        const signed = v.right.signature?.revision;
        const entry = {
          device,
          deployment,
          specHash: v.right.specHash,
          fingerprint: String(e.revision),
          spec: v.right.spec,
          ...(v.right.tampered !== undefined ? { tampered: v.right.tampered } : {}),
          ...(signed !== undefined ? { revision: signed } : {}),
        };
        return [{ _tag: "DesiredSet", entry }, ...problemAt(bucket, e.key, device, undefined)];
      }
      case "heartbeat": {
        const k = parseDeviceKey(e.key);
        if (E.isLeft(k)) return keyProblem(bucket, e, k.left);
        const id = k.right;
        const v = put ? decodeHeartbeatValue(e.value) : undefined;
        const damage = problemAt(bucket, e.key, id, v !== undefined && E.isLeft(v) ? formatWireError(v.left) : undefined);
        if (v !== undefined && E.isRight(v)) {
          heartbeats.set(id, v.right.time);
          return [...(registered.has(id) ? [{ _tag: "Heartbeat", id, at: v.right.time } as const] : []), ...damage];
        }
        // Deleted or unreadable: the device has no heartbeat a read would see.
        const had = heartbeats.delete(id);
        return [...(had && registered.has(id) ? [registration(id)] : []), ...damage];
      }
      case "info": {
        const k = parseDeviceKey(e.key);
        if (E.isLeft(k)) return keyProblem(bucket, e, k.left);
        const id = k.right;
        const v = put ? decodeDeviceInfoValue(e.value, id) : undefined;
        const damage = problemAt(bucket, e.key, id, v !== undefined && E.isLeft(v) ? formatWireError(v.left) : undefined);
        if (v !== undefined && E.isRight(v)) {
          registered.set(id, v.right);
          return [registration(id), ...damage];
        }
        registered.delete(id);
        return [{ _tag: "DeviceGone", id }, ...damage];
      }
      case "state": {
        const k = parseEntryKey(e.key);
        if (E.isLeft(k)) return keyProblem(bucket, e, k.left);
        const { device, deployment } = k.right;
        const v = put ? decodeDeviceStateValue(e.value) : undefined;
        const damage = problemAt(bucket, e.key, device, v !== undefined && E.isLeft(v) ? formatWireError(v.left) : undefined);
        if (v === undefined || E.isLeft(v)) return [{ _tag: "ObservedDeleted", device, deployment }, ...damage];
        const s = v.right;
        const state = {
          device,
          deployment,
          phase: s.phase,
          at: s.time,
          ...(s.specHash !== undefined ? { specHash: s.specHash } : {}),
          ...(s.error !== undefined ? { error: s.error } : {}),
        };
        return [{ _tag: "ObservedSet", state }, ...damage];
      }
    }
  };
  return { take };
};

// -------------------------------------------------------------------------------------
// the driver
// -------------------------------------------------------------------------------------

export interface PlannerFeed {
  readonly planner: Planner;
  /** Resolves at the next moment every watch has delivered all it had (at once if they have and nothing came since). */
  readonly caughtUp: () => Promise<void>;
  readonly stop: () => void;
}

export interface FeedHandlers {
  /**
   * Each record after the first catch-up: the events it meant and what they changed in the plan
   * (the re-planned devices' steps), for a controller loop or a gate over per-device actions.
   */
  readonly changed?: (events: ReadonlyArray<PlannerEvent>, change: PlanChange) => void;
  /** A watch ended on its own (its consumer is gone): the feed is no longer complete. */
  readonly ended?: (why: string) => void;
}

const WATCHED: ReadonlyArray<WatchedBucket> = ["desired", "heartbeat", "info", "state"];

/** Watches the fleet's buckets and resolves, once the first full picture is in, with a Planner kept up to date. */
export const feedPlanner = async (js: JetStreamClient, world: World, options: DiffOptions, handlers: FeedHandlers = {}): Promise<PlannerFeed> => {
  const changes = recordChanges();
  const pending: PlannerEvent[] = [];
  const behind = new Set<WatchedBucket>(WATCHED);
  let p: Planner | undefined;
  let waiters: Array<() => void> = [];
  let first: (() => void) | undefined;
  const firstCatchUp = new Promise<void>((resolve) => (first = resolve));

  const signal = (): void => {
    if (behind.size > 0) return;
    if (p === undefined) {
      p = planner(world, emptyReality, options);
      p.applyAll(pending);
      pending.length = 0;
      first?.();
    }
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  };

  const watches: KeyWatch[] = [];
  const stop = (): void => {
    for (const w of watches) w.stop();
  };
  try {
    for (const bucket of WATCHED)
      watches.push(
        await watchKeys(js, BUCKET[bucket], ">", {
          entry: (record) => {
            behind.add(bucket);
            const events = changes.take(bucket, record);
            if (p === undefined) for (const e of events) pending.push(e);
            else if (events.length > 0) handlers.changed?.(events, p.applyAll(events));
          },
          caughtUp: () => {
            behind.delete(bucket);
            signal();
          },
          ended: (why) => handlers.ended?.(why),
        }),
      );
  } catch (e) {
    stop();
    throw e;
  }
  await firstCatchUp;
  const fed = p as Planner | undefined;
  if (fed === undefined) throw new Error("feedPlanner: caught up without a planner");
  return {
    planner: fed,
    caughtUp: () => (behind.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    stop,
  };
};
