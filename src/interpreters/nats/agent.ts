/**
 * The device agent over NATS: the driver of the pure state machine in
 * src/agent/Step.ts. It translates I/O into events and performs effects,
 * nothing else; what the agent does (and the laws it keeps) is in Step.ts.
 *
 * - registers (`device-info`) at start and after every reconnect, and
 *   heartbeats (`device-heartbeat`) on an interval;
 * - follows only its own desired entries (`<device>.>`: a snapshot, then
 *   change notifications and reads, Follow.ts), and reconciles
 *   level-triggered, only once the follow has caught up;
 * - after a reconnect (and every `resyncIntervalMs`) it starts a fresh follow
 *   and replaces its view with the server's, and re-reports every state;
 * - reports `device-state` per deployment (`Pending`, then `Running` or
 *   `Failed`); an undecodable entry is reported `Failed` with the reason;
 * - each run has a random instance id, written in `device-info` and
 *   heartbeats; it listens to its own heartbeat key, so two agents started
 *   with one device id see each other, say so in their logs and name each
 *   other in their heartbeats (which the control plane's read reports);
 * - with `trust`, every desired entry must be signed by a trusted key
 *   (src/agent/Accept.ts); what it accepted is kept in
 *   `<stateDir>/<device>.accepted.json` (AcceptedFile.ts), read at start (a
 *   damaged file refuses the start) and rewritten on every acceptance;
 * - nothing here ends the agent except `stop()`.
 */
import { randomUUID } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Device } from "../../algebra/Device.ts";
import { entryKey, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { matchEffect } from "../../agent/Effect.ts";
import type { AgentEvent, DesiredInput } from "../../agent/Event.ts";
import { initialState, type AgentState, type ReportedState } from "../../agent/State.ts";
import { step } from "../../agent/Step.ts";
import type { Runtime } from "../Runtime.ts";
import { openAgentConnection, type AgentConnection } from "./AgentConnection.ts";
import { BUCKET, subjectPrefixOf } from "./Buckets.ts";
import type { ConnectionSettings } from "./Connection.ts";
import { scanLatest, type ScannedEntry } from "./Scan.ts";
import { followKeys, type Follow } from "./Follow.ts";
import { decodeHeartbeatValue, desiredPartsDecoder, formatWireError, parseEntryKey } from "./wire.ts";
import { formatProblem, type DecodeProblem } from "../../algebra/DecodeError.ts";
import type { TrustStore } from "../../trust/Keys.ts";
import { acceptedFilePath, readAcceptedFile, writeAcceptedFile } from "./AcceptedFile.ts";
import { hash32 } from "../simulated/Prng.ts";

export type { ReportedState } from "../../agent/State.ts";

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
  /** With `nats`: how long one JetStream API request may take, ms. Default 10 000. */
  readonly apiTimeoutMs?: number;
  /** Delay before retrying a failed reconcile, report or follow, ms. Default 2 000. */
  readonly retryMs?: number;
  /** Spread of re-watches after a reconnect (agents sharing a connection), ms. Default 0. */
  readonly reconnectSpreadMs?: number;
  /** This run's instance id; default a random UUID. */
  readonly instance?: string;
  readonly log?: (line: string) => void;
  readonly now?: () => Date;
  /** Verify every desired entry against these keys (absent: run unsigned entries, as before signatures). */
  readonly trust?: TrustStore;
  /** Where the accepted revisions are kept across restarts (with `trust`); absent: in memory only. */
  readonly stateDir?: string;
  /** Called after each state report is stored (tests, benchmarks). */
  readonly onReport?: (deployment: DeploymentName, state: ReportedState) => void;
}

export interface AgentHandle {
  readonly deviceId: DeviceId;
  /** This run's instance id (in device-info and heartbeats). */
  readonly instance: string;
  /** Resolves after the first complete reconcile. */
  readonly ready: Promise<void>;
  /** The states last stored in `device-state`, by deployment. */
  reported(): ReadonlyMap<DeploymentName, ReportedState>;
  /** Stops watching, heartbeating and reconciling; the runtime keeps running what it runs. */
  stop(): Promise<void>;
}

/** A desired-state entry as the pure agent takes it: key and value decoded, nothing decided. */
const desiredInput = (id: DeviceId, decode: ReturnType<typeof desiredPartsDecoder>, e: ScannedEntry): DesiredInput => {
  const k = parseEntryKey(e.key);
  if (E.isLeft(k) || k.right.device !== id) return { _tag: "ForeignKey", key: e.key, reason: E.isLeft(k) ? k.left.message : "not this device" };
  const deployment = k.right.deployment;
  if (e.operation !== "PUT") return { _tag: "Deleted", deployment, revision: e.revision };
  const v = decode(e.value, k.right);
  return {
    _tag: "Put",
    deployment,
    revision: e.revision,
    value: E.isLeft(v)
      ? { _tag: "Undecodable", reason: formatWireError(v.left) }
      : {
          _tag: "Decoded",
          spec: v.right.spec,
          specHash: v.right.specHash,
          ...(v.right.actualSpecHash !== v.right.specHash ? { actualSpecHash: v.right.actualSpecHash } : {}),
          ...(v.right.signature !== undefined ? { signature: E.mapLeft((ps: ReadonlyArray<DecodeProblem>) => ps.map(formatProblem).join("; "))(v.right.signature) } : {}),
        },
  };
};

export const runAgent = async (options: AgentOptions): Promise<AgentHandle> => {
  if (options.connection === undefined && options.nats === undefined) throw new Error("runAgent: give `nats` or `connection`");
  // Before connecting: a damaged accepted-revisions file refuses the start (AcceptedFile.ts).
  const acceptedPath = options.trust !== undefined && options.stateDir !== undefined ? acceptedFilePath(options.stateDir, options.device.id) : undefined;
  const accepted = acceptedPath === undefined ? new Map() : readAcceptedFile(acceptedPath, options.device.id);
  const conn = options.connection ?? (await openAgentConnection(options.nats as ConnectionSettings, options.apiTimeoutMs !== undefined ? { apiTimeoutMs: options.apiTimeoutMs } : {}));
  const owned = options.connection === undefined;
  const device: Device = options.device.agentVersion === undefined ? { ...options.device, agentVersion: AGENT_VERSION } : options.device;
  const id = device.id;
  const runtime = options.runtime;
  const log = options.log ?? (() => undefined);
  const now = options.now ?? (() => new Date());
  const writer = conn.writer;
  const instance = options.instance ?? randomUUID();
  const heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
  const spread = options.reconnectSpreadMs ?? 0;
  const decode = desiredPartsDecoder();
  if (options.trust === undefined) log(`${id}: no trust file: runs unsigned desired entries`);
  else if (acceptedPath === undefined) log(`${id}: no state dir: accepted revisions are kept in memory only (a replay after a restart is not recognised)`);

  let state: AgentState = initialState({
    device: id,
    instance,
    retryMs: options.retryMs ?? 2_000,
    rejoinDelayMs: spread > 0 ? hash32(id) % spread : 0,
    // Another agent heartbeats as often as this one; three missed beats and it is gone.
    peerTtlMs: 3 * heartbeatMs,
    ...(options.trust !== undefined ? { trust: options.trust } : {}),
  }, accepted);

  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let watch: Follow | undefined;
  let reconciling: Promise<unknown> | undefined;
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (resolveReady = r));
  let resolveFollowing: () => void = () => undefined;
  const following = new Promise<void>((r) => (resolveFollowing = r));

  // Events raised while effects are being started wait their turn: one step at a time.
  const queue: AgentEvent[] = [];
  let stepping = false;
  const dispatch = (event: AgentEvent): void => {
    if (stopped) return;
    queue.push(event);
    if (stepping) return;
    stepping = true;
    try {
      for (let e = queue.shift(); e !== undefined && !stopped; e = queue.shift()) {
        const [next, effects] = step(state, e);
        state = next;
        for (const fx of effects) perform(fx);
      }
    } finally {
      stepping = false;
    }
  };
  /** Runs an I/O effect and turns its outcome into an event. */
  const answer = <A>(io: () => Promise<A>, ok: (a: A) => AgentEvent, ko: (error: string) => AgentEvent): Promise<void> =>
    io().then(
      (a) => dispatch(ok(a)),
      (e: unknown) => dispatch(ko(errorMessage(e))),
    );

  const startFollow = (generation: number, deployments: ReadonlyArray<DeploymentName>): void => {
    watch?.stop();
    watch = undefined;
    // What it runs or has reported: a snapshot without one of these is checked key by key (Follow.ts).
    const expected = deployments.map((d) => entryKey(id, d));
    void conn
      .limit(() =>
        followKeys(
          { nc: conn.nc, js: conn.js, kv: conn.buckets.desired, bucket: BUCKET.desired },
          `${id}.>`,
          {
            entry: (e) => dispatch({ _tag: "EntrySeen", generation, input: desiredInput(id, decode, e), now: now() }),
            caughtUp: () => dispatch({ _tag: "CaughtUp", generation }),
            // A follow that broke (a bug in taking an entry) is replaced by a fresh one, as after a failed start.
            ended: (why) => dispatch({ _tag: "FollowFailed", generation, error: why }),
          },
          { expected },
        ),
      )
      .then(
        (w) => {
          if (stopped || generation !== state.generation) w.stop();
          else watch = w;
        },
        (e: unknown) => dispatch({ _tag: "FollowFailed", generation, error: errorMessage(e) }),
      )
      .finally(resolveFollowing);
  };

  const readPreviousStates = async (): Promise<AgentEvent> => {
    try {
      const found = await conn.limit(() => scanLatest(conn.js, BUCKET.state, { filter: `${id}.>`, headersOnly: true }));
      const deployments: DeploymentName[] = [];
      for (const e of found) {
        const k = parseEntryKey(e.key);
        if (e.operation === "PUT" && E.isRight(k)) deployments.push(k.right.deployment);
      }
      return { _tag: "PreviousStates", deployments };
    } catch (e) {
      return { _tag: "PreviousStates", deployments: [], error: errorMessage(e) };
    }
  };

  const perform = matchEffect<void>({
    Register: () => void answer(() => writer.publishInfo(device, instance), () => ({ _tag: "Registered" }), (error) => ({ _tag: "RegisterFailed", error })),
    Heartbeat: ({ others }) =>
      void answer(
        () => writer.heartbeat(id, now(), device.agentVersion, { instance, others }),
        () => ({ _tag: "HeartbeatSent" }),
        (error) => ({ _tag: "HeartbeatFailed", error }),
      ),
    ReadPreviousStates: () => void readPreviousStates().then(dispatch),
    Follow: ({ generation, expected }) => startFollow(generation, expected),
    Report: ({ deployment, state: s, seq }) =>
      void answer(
        () => writer.reportState(id, deployment, { ...s, time: now() }),
        () => {
          options.onReport?.(deployment, s);
          return { _tag: "Reported", deployment, state: s, seq };
        },
        (error) => ({ _tag: "ReportFailed", deployment, state: s, error }),
      ),
    Clear: ({ deployment, seq }) =>
      void answer(() => writer.clearState(id, deployment), () => ({ _tag: "Cleared", deployment, seq }), (error) => ({ _tag: "ClearFailed", deployment, error })),
    Reconcile: ({ pass, desired }) => {
      reconciling = answer(
        () => runtime.reconcile(desired),
        (statuses) => ({ _tag: "Reconciled", pass, statuses }),
        (error) => ({ _tag: "ReconcileFailed", pass, error: `runtime ${runtime.name} failed: ${error}` }),
      );
    },
    CheckRuntime: () =>
      void answer(() => runtime.status(), (statuses) => ({ _tag: "RuntimeChecked", statuses }), (error) => ({ _tag: "RuntimeCheckFailed", error })),
    Later: ({ ms, event }) => {
      const t = setTimeout(() => {
        timers.delete(t);
        dispatch(event);
      }, ms);
      timers.add(t);
    },
    Log: ({ line }) => log(line),
    PersistAccepted: ({ accepted: a }) => {
      if (acceptedPath === undefined) return;
      // Synchronous, so it is on disk before the Reconcile that follows it is started.
      try {
        writeAcceptedFile(acceptedPath, id, a);
      } catch (e) {
        queueMicrotask(() => dispatch({ _tag: "PersistFailed", error: `${acceptedPath}: ${errorMessage(e)}` }));
      }
    },
    Ready: () => resolveReady(),
  });

  // Heartbeats of this device id, ours and any other agent's (a core subscription: no server state).
  const peers = conn.nc.subscribe(subjectPrefixOf(BUCKET.heartbeat) + id, {
    callback: (err, msg) => {
      if (err !== null) return;
      const h = decodeHeartbeatValue(msg.data);
      if (E.isRight(h) && h.right.instance !== undefined) dispatch({ _tag: "PeerSeen", instance: h.right.instance, at: now() });
    },
  });
  const heartbeatTimer = setInterval(() => dispatch({ _tag: "Tick", now: now() }), heartbeatMs);
  const resyncTimer = setInterval(() => dispatch({ _tag: "ResyncDue" }), options.resyncIntervalMs ?? 300_000);
  const unsubscribe = conn.onReconnect(() => dispatch({ _tag: "Reconnected" }));

  dispatch({ _tag: "Started" });
  // As before the state machine: the handle is returned once the first follow is in place (or failed).
  await following;

  return {
    deviceId: id,
    instance,
    ready,
    reported: () => new Map(state.stored),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeatTimer);
      clearInterval(resyncTimer);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      unsubscribe();
      peers.unsubscribe();
      watch?.stop();
      await reconciling;
      if (owned) await conn.close();
    },
  };
};
