/**
 * fleet-algebra/nats: desired state in NATS JetStream KV.
 *
 * `nats(options)` connects, opens (creating when missing) the fleet's
 * buckets, and returns an `Interpreter`:
 * - `read()` scans `desired-state`, `device-info`, `device-state`,
 *   `device-heartbeat` and `fleet-rollouts` into a Reality (Read.ts); unreadable records are
 *   reported and their devices marked damaged;
 * - `apply(plan)` is serialised by a lock kept in NATS, refuses a stale plan
 *   as a whole, and writes every entry compare-and-set, pipelined (Apply.ts).
 *
 * The returned interpreter also plays the device side (`register`,
 * `heartbeat`, `report`), for tests and tools that stand in for agents; the
 * agent itself is `runAgent` (agent.ts). `feedPlanner` keeps an incremental
 * Planner up to date from the buckets' change streams (PlannerFeed.ts). Buckets, keys, wire formats and the
 * lock protocol are documented in docs/nats.md.
 */
import { hostname } from "node:os";
import { nuid, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Device } from "../../algebra/Device.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import type { ObservedState } from "../../diff/Reality.ts";
import type { ExitReleases } from "../ExitReleases.ts";
import { BackendUnavailableError, type Interpreter } from "../Interpreter.ts";
import { applyToNats, type ApplyDeps } from "./Apply.ts";
import { ALL_ROLES, BUCKET, openFleetBuckets, streamOf, type BucketSettings, type FleetBuckets } from "./Buckets.ts";
import { connectJetStream, type ConnectionSettings } from "./Connection.ts";
import { deviceWriter } from "./DeviceSide.ts";
import { applyLock, describeHolder, type HeldLock, type LockHolder } from "./Lock.ts";
import { ackPublisher } from "./Publisher.ts";
import { readFleet } from "./Read.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";

// The device side and the wire, for agents and tools built on this package.
export { runAgent, AGENT_VERSION, type AgentOptions, type AgentHandle, type ReportedState } from "./agent.ts";
export { feedPlanner, recordChanges, type PlannerFeed, type FeedHandlers, type RecordChanges, type WatchedBucket } from "./PlannerFeed.ts";
export { runSimulation, simulatedDevices, type SimulationOptions, type Simulation } from "./Simulation.ts";
export { openAgentConnection, type AgentConnection } from "./AgentConnection.ts";
export { BUCKET, HISTORY, type BucketSettings } from "./Buckets.ts";
export { WIRE_VERSION } from "./wire.ts";
export { LockBreakError, type LockHolder } from "./Lock.ts";
export { serverList, type ConnectionSettings } from "./Connection.ts";

/** Where to connect (`ConnectionSettings`), the buckets' replica count (`BucketSettings`), and the apply's knobs. */
export interface NatsOptions extends ConnectionSettings, BucketSettings {
  /** How long an apply lock lives without renewal (a crashed apply blocks no longer). Default 30 000 ms. */
  lockTtlMs?: number;
  /** How long `apply` waits for a lock another apply holds before returning `Locked`. Default 10 000 ms. */
  lockWaitMs?: number;
  /** Desired-state writes in flight at once during an apply. Default 1024. */
  window?: number;
  /** How long a dropped connection may stay down before an apply stops as "server lost". Default 10 000 ms. */
  lostAfterMs?: number;
  /**
   * How long one JetStream API request (a bucket's info, a consumer's creation, a lock's write) may
   * take before it fails. Default 10 000 ms; a loaded or recovering cluster may need more.
   */
  apiTimeoutMs?: number;
  /** Where a held apply lock's release is registered, so that signals release it too (the CLI's). */
  exitReleases?: ExitReleases;
}

export interface NatsInterpreter extends Interpreter {
  readonly connection: NatsConnection;
  readonly buckets: FleetBuckets;
  /** Device side: device-info and a heartbeat at `at`, as an agent registers. */
  register(device: Device, at?: Date): Promise<void>;
  heartbeat(id: DeviceId, at: Date, agentVersion?: string): Promise<void>;
  /** Device side: observed state, as an agent reports it. */
  report(state: ObservedState): Promise<void>;
  /** Removes every key of every fleet bucket (tests, demos). Not part of any plan. */
  reset(): Promise<void>;
  /** Who holds the apply lock now (undefined: free), with the lock ID that breaks it. */
  lockHolder(): Promise<LockHolder | undefined>;
  /** Breaks the apply lock whose ID is `id` (`fleet force-unlock --backend nats`); `LockBreakError` otherwise. */
  breakLock(id: string): Promise<LockHolder>;
}

export const DEFAULT_LOCK_TTL_MS = 30_000;
export const DEFAULT_LOCK_WAIT_MS = 10_000;
export const DEFAULT_WINDOW = 1024;
/** How long `exclusive` waits for a held lock between checks of its `stop`. */
const EXCLUSIVE_POLL_MS = 1_000;

/** A failure of the server or the connection (not of one record or one write) is one clear line. */
const atEdge = async <A>(what: string, f: () => Promise<A>): Promise<A> => {
  try {
    return await f();
  } catch (e) {
    if (e instanceof BackendUnavailableError) throw e;
    throw new BackendUnavailableError(`NATS: ${what} failed: ${errorMessage(e)}`);
  }
};

export const nats = async (options: NatsOptions): Promise<NatsInterpreter> => {
  const { nc, js } = await connectJetStream(options, options.apiTimeoutMs !== undefined ? { jsTimeoutMs: options.apiTimeoutMs } : {});
  let buckets: FleetBuckets;
  try {
    buckets = await openFleetBuckets(js, options.replicas !== undefined ? { replicas: options.replicas } : {});
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
  const publisher = ackPublisher(nc, options.lostAfterMs !== undefined ? { lostAfterMs: options.lostAfterMs } : {});
  const lock = applyLock({ kv: buckets.locks, publisher });
  const devices = deviceWriter(publisher);
  const owner = `${options.name ?? "fleet"}@${hostname()}:${process.pid}/${nuid.next()}`;
  /** The lock `exclusive` holds while its function runs; applies meanwhile use it. */
  let held: HeldLock | undefined;
  const applyDeps = (): ApplyDeps => ({
    js,
    desired: buckets.desired,
    rollouts: buckets.rollouts,
    publisher,
    lock,
    owner,
    lockTtlMs: options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS,
    lockWaitMs: options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS,
    window: options.window ?? DEFAULT_WINDOW,
    ...(options.exitReleases !== undefined ? { exitReleases: options.exitReleases } : {}),
    ...(held !== undefined ? { held } : {}),
  });

  return {
    name: "nats",
    connection: nc,
    buckets,
    read: () => atEdge("reading the fleet", () => readFleet(js)),
    apply: (plan, applyOptions) => atEdge("applying", () => applyToNats(applyDeps(), plan, applyOptions)),
    exclusive: async (f, { onWait, stop }) => {
      if (held !== undefined) return f();
      const lockOptions = {
        ttlMs: options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS,
        waitMs: EXCLUSIVE_POLL_MS,
        ...(options.exitReleases !== undefined ? { exitReleases: options.exitReleases } : {}),
      };
      let stopped = false;
      void stop.then(() => (stopped = true));
      let told: string | undefined;
      for (;;) {
        const got = await atEdge("taking the apply lock", () => lock.acquire(owner, lockOptions));
        if (got._tag === "Acquired") {
          held = got.lock;
          break;
        }
        // The same holder is told once, however long it keeps the lock.
        if (got.holder !== told) onWait({ owner: (told = got.holder), text: describeHolder(got) });
        if (stopped) return undefined;
      }
      try {
        return await f();
      } finally {
        const h = held;
        held = undefined;
        await h.release();
      }
    },
    close: async () => {
      publisher.close();
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
    register: async (device, at) => {
      await devices.publishInfo(device);
      if (at !== undefined) await devices.heartbeat(device.id, at, device.agentVersion);
    },
    heartbeat: (id, at, agentVersion) => devices.heartbeat(id, at, agentVersion),
    report: (s) =>
      devices.reportState(s.device, s.deployment, {
        phase: s.phase,
        time: s.at,
        ...(s.specHash !== undefined ? { specHash: s.specHash } : {}),
        ...(s.error !== undefined ? { error: s.error } : {}),
        ...(s.health !== undefined ? { health: s.health } : {}),
      }),
    lockHolder: () => atEdge("reading the apply lock", () => lock.holder()),
    breakLock: (id) => lock.breakLock(id),
    reset: async () => {
      const jsm = await jetstreamManager(nc);
      await Promise.all(ALL_ROLES.map((r) => jsm.streams.purge(streamOf(BUCKET[r]))));
    },
  };
};
