/**
 * The device agent: makes one device run what `desired-state` says and
 * reports back.
 *
 * - registers (`device-info`) at start and after every reconnect, and
 *   heartbeats (`device-heartbeat`) on an interval;
 * - follows only its own desired entries (`<device>.>`: a snapshot, then
 *   change notifications and reads, Follow.ts), and reconciles
 *   level-triggered: the runtime is always given the complete desired set,
 *   and only once the follow has caught up, so a partial view never removes
 *   a deployment;
 * - after a reconnect (and every `resyncIntervalMs`) it starts a fresh follow
 *   and replaces its view with the server's, so no update missed while away
 *   is lost, and re-reports every state;
 * - reports `device-state` per deployment: `Pending` when a new spec is taken
 *   up, then `Running` or `Failed` with the runtime's error; an entry it
 *   cannot decode is reported `Failed` with the reason and does not hold up
 *   the others; the state of a deployment no longer desired is removed;
 * - a failed reconcile or report is retried after `retryMs`; nothing here
 *   ends the agent except `stop()`.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Deployment } from "../../algebra/Deployment.ts";
import type { Device } from "../../algebra/Device.ts";
import type { DeploymentName, DeviceId } from "../../algebra/Name.ts";
import type { Phase } from "../../diff/Reality.ts";
import type { DeploymentStatus, Runtime } from "../Runtime.ts";
import { openAgentConnection, type AgentConnection } from "./AgentConnection.ts";
import { BUCKET } from "./Buckets.ts";
import type { ConnectionSettings } from "./Connection.ts";
import { scanLatest, type ScannedEntry } from "./Scan.ts";
import { followKeys, type Follow } from "./Follow.ts";
import { desiredValueDecoder, formatWireError, parseEntryKey } from "./wire.ts";
import { hash32 } from "../simulated/Prng.ts";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  readonly device: Device;
  readonly runtime: Runtime;
  /** Where to connect; the agent owns (and closes) this connection. */
  readonly nats?: ConnectionSettings;
  /** A connection shared with other agents (`fleet sim`); not closed by `stop()`. */
  readonly connection?: AgentConnection;
  /** Default 10 000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** A fresh follow (full re-read) this often, ms. Default 300 000. */
  readonly resyncIntervalMs?: number;
  /** Delay before retrying a failed reconcile, report or follow, ms. Default 2 000. */
  readonly retryMs?: number;
  /** Spread of re-watches after a reconnect (agents sharing a connection), ms. Default 0. */
  readonly reconnectSpreadMs?: number;
  readonly log?: (line: string) => void;
  readonly now?: () => Date;
  /** Called after each state report is stored (tests, benchmarks). */
  readonly onReport?: (deployment: DeploymentName, state: ReportedState) => void;
}

export interface ReportedState {
  readonly phase: Phase;
  readonly specHash?: string;
  readonly error?: string;
}

export interface AgentHandle {
  readonly deviceId: DeviceId;
  /** Resolves after the first complete reconcile. */
  readonly ready: Promise<void>;
  /** The states last stored in `device-state`, by deployment. */
  reported(): ReadonlyMap<DeploymentName, ReportedState>;
  /** Stops watching, heartbeating and reconciling; the runtime keeps running what it runs. */
  stop(): Promise<void>;
}

type Slot =
  | { readonly _tag: "Valid"; readonly spec: Deployment; readonly specHash: string }
  | { readonly _tag: "Invalid"; readonly reason: string };

const sameState = (a: ReportedState | undefined, b: ReportedState): boolean =>
  a !== undefined && a.phase === b.phase && a.specHash === b.specHash && a.error === b.error;

export const runAgent = async (options: AgentOptions): Promise<AgentHandle> => {
  if (options.connection === undefined && options.nats === undefined) throw new Error("runAgent: give `nats` or `connection`");
  const conn = options.connection ?? (await openAgentConnection(options.nats as ConnectionSettings));
  const owned = options.connection === undefined;
  const device: Device = options.device.agentVersion === undefined ? { ...options.device, agentVersion: AGENT_VERSION } : options.device;
  const id = device.id;
  const runtime = options.runtime;
  const log = options.log ?? (() => undefined);
  const now = options.now ?? (() => new Date());
  const retryMs = options.retryMs ?? 2_000;
  const writer = conn.writer;

  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, f: () => void): void => {
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) f();
    }, ms);
    timers.add(t);
  };

  // ---------------------------------------------------------------------------------
  // desired view
  // ---------------------------------------------------------------------------------

  let desired = new Map<DeploymentName, Slot>();
  let synced = false;
  let watch: Follow | undefined;
  let generation = 0;

  const take = (into: Map<DeploymentName, Slot>, e: ScannedEntry): void => {
    const k = parseEntryKey(e.key);
    if (E.isLeft(k) || k.right.device !== id) {
      log(`${id}: ignoring desired-state key ${JSON.stringify(e.key)}: ${E.isLeft(k) ? k.left.message : "not this device"}`);
      return;
    }
    const name = k.right.deployment;
    if (e.operation !== "PUT") {
      into.delete(name);
      return;
    }
    const v = desiredValueDecoder()(e.value, k.right);
    into.set(name, E.isLeft(v) ? { _tag: "Invalid", reason: `unreadable desired entry: ${formatWireError(v.left)}` } : { _tag: "Valid", spec: v.right.spec, specHash: v.right.specHash });
  };

  const startWatch = async (why: string): Promise<void> => {
    if (stopped) return;
    const g = ++generation;
    watch?.stop();
    watch = undefined;
    const fresh = new Map<DeploymentName, Slot>();
    let first = true;
    try {
      const w = await conn.limit(() =>
        followKeys({ nc: conn.nc, js: conn.js, kv: conn.buckets.desired, bucket: BUCKET.desired }, `${id}.>`, {
          entry: (e) => {
            if (g === generation) take(first ? fresh : desired, e);
          },
          caughtUp: () => {
            if (g !== generation) return;
            if (first) {
              first = false;
              desired = fresh;
              synced = true;
            }
            schedule();
          },
        }),
      );
      if (g !== generation || stopped) w.stop();
      else watch = w;
    } catch (e) {
      if (g !== generation || stopped) return;
      log(`${id}: cannot follow desired-state (${why}): ${e instanceof Error ? e.message : String(e)}; retrying`);
      later(retryMs, () => void startWatch(why));
    }
  };

  // ---------------------------------------------------------------------------------
  // reporting
  // ---------------------------------------------------------------------------------

  /** What device-state holds for each deployment, as far as this agent knows. */
  const reported = new Map<DeploymentName, ReportedState>();
  /** After a reconnect or resync: write every state again even if unchanged. */
  let forceReport = false;
  let reportsFailed = false;

  const report = async (name: DeploymentName, s: ReportedState): Promise<void> => {
    if (!forceReport && sameState(reported.get(name), s)) return;
    try {
      await writer.reportState(id, name, { ...s, time: now() });
      reported.set(name, s);
      options.onReport?.(name, s);
    } catch (e) {
      reportsFailed = true;
      log(`${id}: cannot report ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const clear = async (name: DeploymentName): Promise<void> => {
    try {
      await writer.clearState(id, name);
      reported.delete(name);
    } catch (e) {
      reportsFailed = true;
      log(`${id}: cannot clear the state of ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const statusToState = (s: DeploymentStatus): ReportedState =>
    s.error !== undefined ? { phase: s.phase, specHash: s.specHash, error: s.error } : { phase: s.phase, specHash: s.specHash };

  // ---------------------------------------------------------------------------------
  // reconciling (one at a time; changes meanwhile trigger one more pass)
  // ---------------------------------------------------------------------------------

  let running: Promise<void> | undefined;
  let dirty = false;
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));

  const reconcileOnce = async (): Promise<void> => {
    const view = desired;
    const wasForced = forceReport;
    reportsFailed = false;
    const valid: Array<{ readonly spec: Deployment; readonly specHash: string }> = [];
    const writes: Promise<void>[] = [];
    for (const [name, slot] of view) {
      if (slot._tag === "Invalid") {
        writes.push(report(name, { phase: "Failed", error: slot.reason }));
        continue;
      }
      valid.push(slot);
      const have = reported.get(name);
      if (have === undefined || have.specHash !== slot.specHash) writes.push(report(name, { phase: "Pending", specHash: slot.specHash }));
    }
    for (const name of [...reported.keys()]) if (!view.has(name)) writes.push(clear(name));
    await Promise.all(writes);

    let statuses: ReadonlyArray<DeploymentStatus>;
    try {
      statuses = await runtime.reconcile(valid.map((v) => v.spec));
    } catch (e) {
      const why = `runtime ${runtime.name} failed: ${e instanceof Error ? e.message : String(e)}`;
      log(`${id}: ${why}`);
      await Promise.all(valid.map((v) => report(v.spec.name, { phase: "Failed", specHash: v.specHash, error: why })));
      later(retryMs, schedule);
      return;
    }
    // Only states for what is still desired at this spec: a newer view gets its own pass.
    await Promise.all(
      statuses.map((s) => {
        const slot = desired.get(s.deployment);
        return slot !== undefined && slot._tag === "Valid" && slot.specHash === s.specHash ? report(s.deployment, statusToState(s)) : Promise.resolve();
      }),
    );
    if (wasForced && !reportsFailed) forceReport = false;
    if (reportsFailed) later(retryMs, schedule);
    else resolveReady();
  };

  const schedule = (): void => {
    if (stopped || !synced) return;
    dirty = true;
    if (running !== undefined) return;
    running = (async () => {
      while (dirty && !stopped) {
        dirty = false;
        try {
          await reconcileOnce();
        } catch (e) {
          log(`${id}: reconcile failed: ${e instanceof Error ? e.message : String(e)}`);
          later(retryMs, schedule);
        }
      }
      running = undefined;
    })();
  };

  // ---------------------------------------------------------------------------------
  // registration, heartbeats, periodic checks
  // ---------------------------------------------------------------------------------

  let heartbeatFailing = false;
  const heartbeat = async (): Promise<void> => {
    try {
      await writer.heartbeat(id, now(), device.agentVersion);
      if (heartbeatFailing) log(`${id}: heartbeats resumed`);
      heartbeatFailing = false;
    } catch (e) {
      if (!heartbeatFailing) log(`${id}: heartbeat failed: ${e instanceof Error ? e.message : String(e)}`);
      heartbeatFailing = true;
    }
  };

  const register = async (): Promise<void> => {
    try {
      await writer.publishInfo(device);
    } catch (e) {
      log(`${id}: cannot publish device-info: ${e instanceof Error ? e.message : String(e)}; retrying`);
      later(retryMs, () => void register());
    }
  };

  /** Picks up what changed on the device by itself (a crashed service) between desired changes. */
  const checkRuntime = async (): Promise<void> => {
    if (running !== undefined || !synced) return;
    try {
      for (const s of await runtime.status()) {
        const slot = desired.get(s.deployment);
        if (slot !== undefined && slot._tag === "Valid" && slot.specHash === s.specHash) await report(s.deployment, statusToState(s));
      }
    } catch (e) {
      log(`${id}: runtime status failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (reportsFailed) schedule();
  };

  const heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
  const heartbeatTimer = setInterval(() => {
    void heartbeat();
    void checkRuntime();
  }, heartbeatMs);
  const resyncTimer = setInterval(() => {
    forceReport = true;
    void startWatch("periodic resync");
  }, options.resyncIntervalMs ?? 300_000);

  const spread = options.reconnectSpreadMs ?? 0;
  const unsubscribe = conn.onReconnect(() => {
    log(`${id}: reconnected; re-registering and re-reading desired state`);
    later(spread > 0 ? hash32(id) % spread : 0, () => {
      forceReport = true;
      void register();
      void heartbeat();
      void startWatch("reconnect");
    });
  });

  /** States a previous run of this agent left: known, so they are corrected or removed. */
  const adoptStates = async (): Promise<void> => {
    try {
      const found = await conn.limit(() => scanLatest(conn.js, BUCKET.state, { filter: `${id}.>`, headersOnly: true }));
      for (const e of found) {
        const k = parseEntryKey(e.key);
        // An impossible state: never equal to a real report, so the first pass rewrites or removes it.
        if (e.operation === "PUT" && E.isRight(k) && !reported.has(k.right.deployment)) reported.set(k.right.deployment, { phase: "Pending", specHash: "" });
      }
    } catch (e) {
      log(`${id}: cannot read its previous device-state: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  await register();
  await heartbeat();
  await adoptStates();
  await startWatch("start");

  return {
    deviceId: id,
    ready,
    reported: () => new Map(reported),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeatTimer);
      clearInterval(resyncTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      unsubscribe();
      watch?.stop();
      await running;
      if (owned) await conn.close();
    },
  };
};
