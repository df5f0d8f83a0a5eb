/**
 * The device agent as a pure state machine: `step(state, event)` is the new
 * state and the effects its driver must perform. No clock, no I/O, no
 * randomness; the drivers (src/interpreters/nats/agent.ts) only translate.
 *
 * What it keeps (test/laws/agent-model.test.ts, against a model, under random
 * interleavings of late, duplicate and lost notifications, reconnects,
 * restarts, malformed entries and failing runtimes and writes):
 * - convergence: once the connection holds and failures stop, the runtime
 *   runs exactly the decodable desired entries at their specs, and
 *   `device-state` holds `Running` for each of them, `Failed` with the reason
 *   for each undecodable one, and nothing else;
 * - safety: the runtime is only ever given a complete view (a follow that
 *   caught up), so a partial read never removes a deployment;
 * - reconciles never overlap, and changes made meanwhile get one more pass;
 * - every failure is logged and retried after `retryMs`; nothing stops the
 *   agent but its driver;
 * - with a trust store, an entry Accept.ts refuses never reaches the runtime:
 *   its key is reported `Rejected` with the reason and keeps the spec last
 *   accepted (none: nothing runs for it); what is accepted is persisted
 *   (`PersistAccepted`) before the runtime is given it
 *   (test/laws/signed-agent.test.ts).
 */
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import * as RM from "fp-ts/lib/ReadonlyMap.js";
import type { Deployment } from "../algebra/Deployment.ts";
import { OrdDeploymentName, type DeploymentName } from "../algebra/Name.ts";
import * as S from "fp-ts/lib/string.js";
import { acceptEntry, formatUntrusted, type AcceptedEntry } from "./Accept.ts";
import type { AgentEffect } from "./Effect.ts";
import { matchEvent, type AgentEvent, type RuntimeStatus } from "./Event.ts";
import { sameReportedState, type AgentState, type FollowReason, type RejectedEntry, type ReportedState, type Slot } from "./State.ts";

export type Next = readonly [AgentState, ReadonlyArray<AgentEffect>];

const sortedNames = RM.keys(OrdDeploymentName);
const sortedInstances = RM.keys(S.Ord);

const with_ = <K, V>(m: ReadonlyMap<K, V>, k: K, v: V): ReadonlyMap<K, V> => new Map(m).set(k, v);
const without = <K, V>(m: ReadonlyMap<K, V>, k: K): ReadonlyMap<K, V> => {
  if (!m.has(k)) return m;
  const out = new Map(m);
  out.delete(k);
  return out;
};

/** Effects are collected while the state is threaded through small pure helpers. */
type Fx = AgentEffect[];

const log = (s: AgentState, fx: Fx, line: string): void => {
  fx.push({ _tag: "Log", line: `${s.config.device}: ${line}` });
};

const heartbeat = (s: AgentState): AgentEffect => ({ _tag: "Heartbeat", others: sortedInstances(s.peers) });

const statusToState = (s: RuntimeStatus): ReportedState => ({
  phase: s.phase,
  specHash: s.specHash,
  ...(s.error !== undefined ? { error: s.error } : {}),
  ...(s.health !== undefined ? { health: s.health } : {}),
});

// -------------------------------------------------------------------------------------
// following desired-state
// -------------------------------------------------------------------------------------

/** What a fresh follow must not lose to a short snapshot: the deployments in the view and those with a reported state. */
const expectedDeployments = (s: AgentState): ReadonlyArray<DeploymentName> =>
  sortedNames(O.isSome(s.view) ? new Map<DeploymentName, unknown>([...s.stored, ...s.view.value]) : s.stored);

const startFollow = (s: AgentState, fx: Fx, reason: FollowReason): AgentState => {
  const generation = s.generation + 1;
  fx.push({ _tag: "Follow", generation, reason, expected: expectedDeployments(s) });
  return { ...s, generation, followReason: reason, snapshot: O.some(new Map()), revisions: new Map() };
};

/** The slot a refused entry leaves its key with: the spec last accepted, if any. */
const fallbackSlot = (last: AcceptedEntry | undefined, revision: number): Slot | undefined =>
  last?.spec !== undefined && last.specHash !== undefined ? { _tag: "Valid", spec: last.spec, specHash: last.specHash, revision } : undefined;

const takeEntry = (s: AgentState, fx: Fx, e: Extract<AgentEvent, { _tag: "EntrySeen" }>): AgentState => {
  const accepted = acceptEntry(s.revisions, { device: s.config.device, accepted: s.accepted, now: e.now, ...(s.config.trust !== undefined ? { trust: s.config.trust } : {}) })(
    e.input,
  );
  // Before catching up, entries build the snapshot; after, they change the live view (reconciled at the next catch-up).
  const change = (st: AgentState, update: (m: ReadonlyMap<DeploymentName, Slot>) => ReadonlyMap<DeploymentName, Slot>): AgentState =>
    O.isSome(st.snapshot) ? { ...st, snapshot: O.some(update(st.snapshot.value)) } : { ...st, view: O.map(update)(st.view) };
  if (E.isLeft(accepted)) {
    const r = accepted.left;
    // A stale entry is the normal fate of a late or repeated notification: nothing to say.
    if (r._tag === "ForeignKey") log(s, fx, `ignoring desired-state key ${JSON.stringify(r.key)}: ${r.reason}`);
    if (r._tag !== "Untrusted") return s;
    const reason = formatUntrusted(r.reason);
    const previous = s.rejected.get(r.deployment);
    if (previous?.reason !== reason) log(s, fx, `${r.deployment}: ${reason}; keeps what it last accepted`);
    const fallback = fallbackSlot(s.accepted.get(r.deployment), r.revision);
    const st: AgentState = {
      ...s,
      revisions: with_(s.revisions, r.deployment, r.revision),
      rejected: with_(s.rejected, r.deployment, { ...(r.specHash !== undefined ? { specHash: r.specHash } : {}), reason }),
    };
    return change(st, (m) => (fallback === undefined ? without(m, r.deployment) : m.get(r.deployment)?._tag === "Valid" ? m : with_(m, r.deployment, fallback)));
  }
  const a = accepted.right;
  const revision = a._tag === "Take" ? a.slot.revision : a.revision;
  let st: AgentState = { ...s, revisions: with_(s.revisions, a.deployment, revision), rejected: without(s.rejected, a.deployment) };
  if (s.config.trust !== undefined) {
    const last = s.accepted.get(a.deployment);
    // A delete is not signed: the spec goes, the highest revision stays (a re-created key is signed later still).
    const next: AcceptedEntry | undefined =
      a._tag === "Take"
        ? a.signed !== undefined && a.slot._tag === "Valid"
          ? { revision: a.signed, spec: a.slot.spec, specHash: a.slot.specHash }
          : last
        : last === undefined
          ? undefined
          : { revision: last.revision };
    if (next !== undefined && next !== last && !(last?.revision === next.revision && last.specHash === next.specHash)) {
      st = { ...st, accepted: with_(s.accepted, a.deployment, next) };
      fx.push({ _tag: "PersistAccepted", accepted: st.accepted });
    }
  }
  return change(st, (m) => (a._tag === "Take" ? with_(m, a.deployment, a.slot) : without(m, a.deployment)));
};

// -------------------------------------------------------------------------------------
// reporting
// -------------------------------------------------------------------------------------

const report = (s: AgentState, fx: Fx, deployment: DeploymentName, state: ReportedState, force: boolean): AgentState => {
  if (!force && sameReportedState(s.sent.get(deployment), state)) return s;
  fx.push({ _tag: "Report", deployment, state, seq: s.writeSeq + 1 });
  return { ...s, sent: with_(s.sent, deployment, state), writes: s.writes + 1, writeSeq: s.writeSeq + 1 };
};

const clear = (s: AgentState, fx: Fx, deployment: DeploymentName): AgentState => {
  fx.push({ _tag: "Clear", deployment, seq: s.writeSeq + 1 });
  return { ...s, sent: without(s.sent, deployment), writes: s.writes + 1, writeSeq: s.writeSeq + 1 };
};

/** What the write that failed asked for is not known to be stored: fall back to what is. */
const revert = (s: AgentState, deployment: DeploymentName): AgentState["sent"] => {
  const stored = s.stored.get(deployment);
  return stored === undefined ? without(s.sent, deployment) : with_(s.sent, deployment, stored);
};

/** Reports the runtime's statuses of what is still desired at that spec (a newer view gets its own pass). */
const reportStatuses = (s: AgentState, fx: Fx, statuses: ReadonlyArray<RuntimeStatus>, force: boolean): AgentState => {
  let st = s;
  const view = O.getOrElse((): ReadonlyMap<DeploymentName, Slot> => new Map())(s.view);
  for (const status of statuses) {
    const slot = view.get(status.deployment);
    if (slot !== undefined && slot._tag === "Valid" && slot.specHash === status.specHash && !s.rejected.has(status.deployment)) st = report(st, fx, status.deployment, statusToState(status), force);
  }
  return st;
};

/** An acknowledged write: what it wrote is stored, unless a later write of that key was acknowledged first. */
const acknowledged = (s: AgentState, deployment: DeploymentName, seq: number, state: ReportedState | undefined): AgentState => {
  const st = { ...s, writes: s.writes - 1 };
  if ((s.acked.get(deployment) ?? 0) > seq) return st;
  return { ...st, acked: with_(s.acked, deployment, seq), stored: state === undefined ? without(s.stored, deployment) : with_(s.stored, deployment, state) };
};

const retryLater = (s: AgentState, fx: Fx): AgentState => {
  if (s.retryScheduled) return s;
  fx.push({ _tag: "Later", ms: s.config.retryMs, event: { _tag: "RetryDue", job: "Reconcile" } });
  return { ...s, retryScheduled: true };
};

const failed = (s: AgentState, fx: Fx, line: string): AgentState => {
  log(s, fx, line);
  return retryLater({ ...s, failedSincePass: true }, fx);
};

// -------------------------------------------------------------------------------------
// reconciling
// -------------------------------------------------------------------------------------

const startPass = (s: AgentState, fx: Fx, view: ReadonlyMap<DeploymentName, Slot>): AgentState => {
  const id = s.passes + 1;
  let st: AgentState = { ...s, pass: O.some({ id, forced: s.force }), passes: id, dirty: false, failedSincePass: false };
  const desired: Deployment[] = [];
  for (const name of sortedNames(view)) {
    const slot = view.get(name) as Slot;
    if (slot._tag === "Invalid") {
      st = report(st, fx, name, { phase: "Failed", error: slot.reason }, s.force);
      continue;
    }
    desired.push(slot.spec);
    if (s.rejected.has(name)) continue;
    const have = st.sent.get(name);
    if (have === undefined || have.specHash !== slot.specHash) st = report(st, fx, name, { phase: "Pending", specHash: slot.specHash }, false);
  }
  for (const name of sortedNames(s.rejected)) {
    const r = s.rejected.get(name) as RejectedEntry;
    st = report(st, fx, name, { phase: "Rejected", ...(r.specHash !== undefined ? { specHash: r.specHash } : {}), error: r.reason }, s.force);
  }
  // `stored` too: a late failure of an older, identical write drops the key from `sent` while the newer
  // write's acknowledgement puts it in `stored`; such a key must still be cleared when it is no longer desired.
  for (const name of sortedNames(new Map([...st.stored, ...st.sent]))) if (!view.has(name) && !s.rejected.has(name)) st = clear(st, fx, name);
  fx.push({ _tag: "Reconcile", pass: id, desired });
  return st;
};

/** One pass at a time; a change meanwhile marks one more. Nothing runs before the first complete view. */
const schedule = (s: AgentState, fx: Fx): AgentState => {
  if (O.isNone(s.view)) return s;
  if (O.isSome(s.pass)) return { ...s, dirty: true };
  return startPass(s, fx, s.view.value);
};

/** Ready once a pass completed with every write acknowledged and nothing failed since it began. */
const settle = (s: AgentState, fx: Fx): AgentState => {
  if (s.ready || s.passes === 0 || O.isSome(s.pass) || s.writes > 0 || s.failedSincePass) return s;
  fx.push({ _tag: "Ready" });
  return { ...s, ready: true };
};

const passEnded = (s: AgentState, fx: Fx): AgentState => (s.dirty ? schedule({ ...s, dirty: false }, fx) : settle(s, fx));

const isCurrentPass = (s: AgentState, pass: number): boolean => O.isSome(s.pass) && s.pass.value.id === pass;

// -------------------------------------------------------------------------------------
// step
// -------------------------------------------------------------------------------------

const run = (f: (fx: Fx) => AgentState): Next => {
  const fx: Fx = [];
  const s = f(fx);
  return [s, fx];
};

export const step = (s: AgentState, event: AgentEvent): Next =>
  matchEvent<Next>({
    Started: () => [s, [{ _tag: "Register" }, heartbeat(s), { _tag: "ReadPreviousStates" }]],
    PreviousStates: (e) =>
      run((fx) => {
        // The first follow does not wait for this read; until it succeeds, leftovers of a previous run stay unknown.
        const first = s.generation === 0;
        if (e.error !== undefined) {
          log(s, fx, `cannot read its previous device-state: ${e.error}; retrying`);
          fx.push({ _tag: "Later", ms: s.config.retryMs, event: { _tag: "RetryDue", job: "ReadPreviousStates" } });
          return first ? startFollow(s, fx, "start") : s;
        }
        let stored = s.stored;
        let sent = s.sent;
        // An impossible state: never equal to a real report, so the first pass rewrites or removes it.
        for (const name of e.deployments)
          if (!stored.has(name)) {
            stored = with_(stored, name, { phase: "Pending", specHash: "" });
            sent = with_(sent, name, { phase: "Pending", specHash: "" });
          }
        return first ? startFollow({ ...s, stored, sent }, fx, "start") : schedule({ ...s, stored, sent }, fx);
      }),
    EntrySeen: (e) => (e.generation !== s.generation ? [s, []] : run((fx) => takeEntry(s, fx, e))),
    CaughtUp: (e) =>
      e.generation !== s.generation
        ? [s, []]
        : run((fx) =>
            schedule(
              // A key refused before this follow and not seen in it is gone: no more to report.
              O.isSome(s.snapshot) ? { ...s, view: s.snapshot, snapshot: O.none, rejected: RM.filterWithIndex((k: DeploymentName) => s.revisions.has(k))(s.rejected) } : s,
              fx,
            ),
          ),
    FollowFailed: (e) =>
      e.generation !== s.generation
        ? [s, []]
        : run((fx) => {
            log(s, fx, `cannot follow desired-state (${s.followReason}): ${e.error}; retrying`);
            fx.push({ _tag: "Later", ms: s.config.retryMs, event: { _tag: "RetryDue", job: "Follow" } });
            return s;
          }),
    Registered: () => [s, []],
    RegisterFailed: (e) =>
      run((fx) => {
        log(s, fx, `cannot publish device-info: ${e.error}; retrying`);
        fx.push({ _tag: "Later", ms: s.config.retryMs, event: { _tag: "RetryDue", job: "Register" } });
        return s;
      }),
    HeartbeatSent: () =>
      run((fx) => {
        if (s.heartbeatFailing) log(s, fx, "heartbeats resumed");
        return { ...s, heartbeatFailing: false };
      }),
    HeartbeatFailed: (e) =>
      run((fx) => {
        if (!s.heartbeatFailing) log(s, fx, `heartbeat failed: ${e.error}`);
        return { ...s, heartbeatFailing: true };
      }),
    Reported: (e) => run((fx) => settle(acknowledged(s, e.deployment, e.seq, e.state), fx)),
    ReportFailed: (e) =>
      run((fx) => {
        const sent = sameReportedState(s.sent.get(e.deployment), e.state) ? revert(s, e.deployment) : s.sent;
        return failed({ ...s, writes: s.writes - 1, sent }, fx, `cannot report ${e.deployment}: ${e.error}`);
      }),
    Cleared: (e) => run((fx) => settle(acknowledged(s, e.deployment, e.seq, undefined), fx)),
    ClearFailed: (e) =>
      run((fx) => {
        const sent = s.sent.has(e.deployment) ? s.sent : revert(s, e.deployment);
        return failed({ ...s, writes: s.writes - 1, sent }, fx, `cannot clear the state of ${e.deployment}: ${e.error}`);
      }),
    Reconciled: (e) =>
      !isCurrentPass(s, e.pass)
        ? [s, []]
        : run((fx) => {
            const forced = O.isSome(s.pass) && s.pass.value.forced;
            const st = reportStatuses({ ...s, pass: O.none }, fx, e.statuses, s.force);
            return passEnded(forced ? { ...st, force: false } : st, fx);
          }),
    ReconcileFailed: (e) =>
      !isCurrentPass(s, e.pass)
        ? [s, []]
        : run((fx) => {
            let st: AgentState = { ...s, pass: O.none };
            const view = O.getOrElse((): ReadonlyMap<DeploymentName, Slot> => new Map())(s.view);
            for (const name of sortedNames(view)) {
              const slot = view.get(name) as Slot;
              // A refused key stays reported as refused: its refusal is the news, not the runtime's failure.
              if (slot._tag === "Valid" && !s.rejected.has(name)) st = report(st, fx, name, { phase: "Failed", specHash: slot.specHash, error: e.error }, s.force);
            }
            return passEnded(failed(st, fx, e.error), fx);
          }),
    RuntimeChecked: (e) => run((fx) => reportStatuses({ ...s, checking: false }, fx, e.statuses, false)),
    PersistFailed: (e) =>
      run((fx) => {
        log(s, fx, `cannot store its accepted revisions: ${e.error}; a replay after a restart may not be recognised`);
        return s;
      }),
    RuntimeCheckFailed: (e) =>
      run((fx) => {
        log(s, fx, `runtime status failed: ${e.error}`);
        return { ...s, checking: false };
      }),
    Tick: (e) =>
      run((fx) => {
        let peers = s.peers;
        for (const [instance, at] of s.peers)
          if (e.now.getTime() - at.getTime() > s.config.peerTtlMs) {
            peers = without(peers, instance);
            log(s, fx, `no longer sees another agent (instance ${instance}) as this device`);
          }
        const st = { ...s, peers };
        fx.push(heartbeat(st));
        // Picks up what changed on the device by itself (a crashed service) between desired changes.
        if (O.isSome(st.pass) || O.isNone(st.view) || st.checking) return st;
        fx.push({ _tag: "CheckRuntime" });
        return { ...st, checking: true };
      }),
    ResyncDue: () => run((fx) => startFollow({ ...s, force: true }, fx, "periodic resync")),
    Reconnected: () =>
      run((fx) => {
        log(s, fx, "reconnected; re-registering and re-reading desired state");
        fx.push({ _tag: "Later", ms: s.config.rejoinDelayMs, event: { _tag: "Rejoin" } });
        return s;
      }),
    Rejoin: () =>
      run((fx) => {
        fx.push({ _tag: "Register" }, heartbeat(s));
        return startFollow({ ...s, force: true }, fx, "reconnect");
      }),
    RetryDue: (e) =>
      run((fx) => {
        switch (e.job) {
          case "Register":
            fx.push({ _tag: "Register" });
            return s;
          case "ReadPreviousStates":
            fx.push({ _tag: "ReadPreviousStates" });
            return s;
          case "Follow":
            return startFollow(s, fx, s.followReason);
          case "Reconcile":
            return schedule({ ...s, retryScheduled: false }, fx);
        }
      }),
    PeerSeen: (e) =>
      run((fx) => {
        if (e.instance === s.config.instance) return s;
        if (!s.peers.has(e.instance))
          log(
            s,
            fx,
            `another agent (instance ${e.instance}) is running as this device; this one is instance ${s.config.instance}: they overwrite each other's state; stop one of them`,
          );
        return { ...s, peers: with_(s.peers, e.instance, e.at) };
      }),
  })(event);
