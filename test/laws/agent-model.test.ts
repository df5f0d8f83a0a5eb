/**
 * The agent's state machine (src/agent/Step.ts) against a model, with
 * fast-check's `fc.commands`: random interleavings of desired-state edits
 * (good and malformed), notifications delivered late, twice or out of order,
 * disconnects that lose notifications, reconnects, agent restarts, and a
 * runtime and writes that fail for a while.
 *
 * The device side is a small deterministic world (`Device` below): a KV of
 * desired entries with revisions, the runtime (what runs at which spec) and
 * `device-state`. Effects are performed against it and their answers queued;
 * commands choose which answer arrives next. The model is only the desired
 * entries: it says which deployments must run at which spec, and what
 * `device-state` must end up holding.
 *
 * Laws:
 * - convergence: after any history, once the connection holds and failures
 *   stop, the runtime runs exactly the decodable desired entries at their
 *   specs, `device-state` holds Running for each and Failed for each
 *   malformed one and nothing else, and the agent knows what it stored;
 * - health: a spec that declares a health check is reported with the
 *   runtime's current verdict (starting, healthy, unhealthy) once a runtime
 *   check ran after the last change; a change of health alone is reported;
 * - reconciles never overlap; the runtime is only given the whole view of a
 *   follow that caught up, and only specs that were desired at some point;
 * - a second instance of the device is logged and named in heartbeats
 *   until it is no longer seen;
 * - a fresh follow whose snapshot comes back empty (a resync, a reconnect,
 *   a restart) keeps what the agent runs: the Follow effect names the
 *   deployments it runs or reported, which Follow.ts reads on their own.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as O from "fp-ts/lib/Option.js";
import { deployment, hasHealthCheck, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import type { Health } from "../../src/diff/Reality.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { matchEffect, type AgentEffect } from "../../src/agent/Effect.ts";
import type { AgentEvent, DecodedDesired, RuntimeStatus } from "../../src/agent/Event.ts";
import { initialState, type AgentConfig, type AgentState, type ReportedState } from "../../src/agent/State.ts";
import { step } from "../../src/agent/Step.ts";

const NAMES = ["web", "db", "cache"] as const;
const name = (i: number): DeploymentName => NAMES[i % NAMES.length] as DeploymentName;
/** Odd versions declare a health check: their statuses carry the runtime's health. */
const spec = (n: DeploymentName, version: number): Deployment =>
  deployment(n, podman({ services: [{ name: "svc", image: `registry.local/${n}:${version}`, ...(version % 2 === 1 ? { healthcheck: { command: "true" } } : {}) }] }));
const checked = new Set<string>();
for (const n of NAMES) for (let v = 0; v < 4; v++) if (hasHealthCheck(spec(n as DeploymentName, v))) checked.add(specHash(spec(n as DeploymentName, v)));

const CONFIG: AgentConfig = { device: "dev-01" as DeviceId, instance: "me", retryMs: 1_000, rejoinDelayMs: 0, peerTtlMs: 3_000 };
/** When entries are read: unsigned entries (no trust store) do not depend on it. */
const READ_AT = new Date("2026-01-01T00:00:00Z");

/** The desired entry of one deployment: a spec version, or a value no reader can decode. */
type Wanted = { readonly _tag: "Spec"; readonly version: number } | { readonly _tag: "Malformed" };

// -------------------------------------------------------------------------------------
// the device's world: the server, the runtime, device-state, queued answers
// -------------------------------------------------------------------------------------

class Device {
  state: AgentState = initialState(CONFIG);
  readonly kv = new Map<DeploymentName, { readonly revision: number; readonly value: Wanted | undefined }>();
  revision = 0;
  connected = true;
  /** The follow notifications go to (none while disconnected: they are lost). */
  follow: number | undefined;
  /** Answers to effects and notifications, each delivered as one unit. */
  inbox: AgentEvent[][] = [];
  /** Notifications (a subject message may arrive twice; an answer to an effect arrives once). */
  readonly notifications = new WeakSet<AgentEvent[]>();
  timers: AgentEvent[] = [];
  readonly runtime = new Map<DeploymentName, string>();
  /** The health checks' verdicts per running deployment (a new spec starts over at `starting`). */
  readonly health = new Map<DeploymentName, Health>();
  readonly store = new Map<DeploymentName, ReportedState>();
  runtimeFails = false;
  writesFail = false;
  /** Snapshots come back empty (nats-server 2.9's "nothing pending" on creating a filtered consumer). */
  shortSnapshots = false;
  reconcileInFlight = false;
  readonly everDesired = new Set<string>();
  readonly logs: string[] = [];
  heartbeats: ReadonlyArray<string>[] = [];
  clock = 0;

  dispatch(event: AgentEvent): void {
    if (event._tag === "Reconciled" || event._tag === "ReconcileFailed") this.reconcileInFlight = false;
    const [next, effects] = step(this.state, event);
    this.state = next;
    for (const fx of effects) this.perform(fx);
  }

  deliver(bundle: ReadonlyArray<AgentEvent>): void {
    for (const e of bundle) this.dispatch(e);
  }

  private entryEvent(generation: number, n: DeploymentName): AgentEvent {
    const e = this.kv.get(n);
    if (e === undefined) throw new Error(`no entry ${n}`);
    if (e.value === undefined) return { _tag: "EntrySeen", generation, input: { _tag: "Deleted", deployment: n, revision: e.revision }, now: READ_AT };
    const value: DecodedDesired =
      e.value._tag === "Spec" ? { _tag: "Decoded", spec: spec(n, e.value.version), specHash: specHash(spec(n, e.value.version)) } : { _tag: "Undecodable", reason: "value is not JSON" };
    return { _tag: "EntrySeen", generation, input: { _tag: "Put", deployment: n, revision: e.revision, value }, now: READ_AT };
  }

  write(n: DeploymentName, value: Wanted | undefined): void {
    this.kv.set(n, { revision: ++this.revision, value });
    if (value?._tag === "Spec") this.everDesired.add(`${n} ${specHash(spec(n, value.version))}`);
    // A notification carries the entry as read then: a later read may overtake it.
    if (this.connected && this.follow !== undefined) {
      const bundle: AgentEvent[] = [this.entryEvent(this.follow, n), { _tag: "CaughtUp", generation: this.follow }];
      this.notifications.add(bundle);
      this.inbox.push(bundle);
    }
  }

  private readonly perform = matchEffect<void>({
    Register: () => this.inbox.push([this.connected ? { _tag: "Registered" } : { _tag: "RegisterFailed", error: "disconnected" }]),
    Heartbeat: ({ others }) => {
      this.heartbeats.push(others);
      this.inbox.push([this.connected ? { _tag: "HeartbeatSent" } : { _tag: "HeartbeatFailed", error: "disconnected" }]);
    },
    ReadPreviousStates: () =>
      this.inbox.push([this.connected ? { _tag: "PreviousStates", deployments: [...this.store.keys()] } : { _tag: "PreviousStates", deployments: [], error: "disconnected" }]),
    Follow: ({ generation, expected }) => {
      if (!this.connected) {
        this.inbox.push([{ _tag: "FollowFailed", generation, error: "disconnected" }]);
        return;
      }
      this.follow = generation;
      // A snapshot holds no tombstones (the server may have compacted them away): late notifications must not resurrect.
      // A short one holds nothing; as in Follow.ts, each expected deployment is then read on its own (a tombstone too).
      const names = this.shortSnapshots ? expected.filter((n) => this.kv.has(n)) : [...this.kv].filter(([, e]) => e.value !== undefined).map(([n]) => n);
      this.inbox.push([...names.map((n) => this.entryEvent(generation, n)), { _tag: "CaughtUp", generation }]);
    },
    Report: ({ deployment: n, state, seq }) => {
      if (!this.connected || this.writesFail) return void this.inbox.push([{ _tag: "ReportFailed", deployment: n, state, error: "write failed" }]);
      this.store.set(n, state);
      this.inbox.push([{ _tag: "Reported", deployment: n, state, seq }]);
    },
    Clear: ({ deployment: n, seq }) => {
      if (!this.connected || this.writesFail) return void this.inbox.push([{ _tag: "ClearFailed", deployment: n, error: "write failed" }]);
      this.store.delete(n);
      this.inbox.push([{ _tag: "Cleared", deployment: n, seq }]);
    },
    Reconcile: ({ pass, desired }) => {
      if (this.reconcileInFlight) throw new Error("two reconciles at once");
      this.reconcileInFlight = true;
      for (const d of desired) if (!this.everDesired.has(`${d.name} ${specHash(d)}`)) throw new Error(`runtime given ${d.name} at a spec never desired`);
      // Only a view of a follow that caught up reaches the runtime, and all of it.
      const view = this.state.view;
      if (O.isNone(view)) throw new Error("runtime given a view before any follow caught up");
      const valid = [...view.value.values()].flatMap((slot) => (slot._tag === "Valid" ? [slot.spec.name] : []));
      if (valid.sort().join() !== desired.map((d) => d.name).sort().join()) throw new Error("runtime given something else than the view");
      if (this.runtimeFails) return void this.inbox.push([{ _tag: "ReconcileFailed", pass, error: "runtime test failed: boom" }]);
      for (const d of desired) if (this.runtime.get(d.name) !== specHash(d)) this.health.set(d.name, "starting");
      this.runtime.clear();
      for (const d of desired) this.runtime.set(d.name, specHash(d));
      this.inbox.push([{ _tag: "Reconciled", pass, statuses: desired.map((d) => this.statusOf(d.name, specHash(d))) }]);
    },
    CheckRuntime: () => this.inbox.push([{ _tag: "RuntimeChecked", statuses: [...this.runtime].map(([n, h]) => this.statusOf(n, h)) }]),
    Later: ({ event }) => void this.timers.push(event),
    Log: ({ line }) => void this.logs.push(line),
    Ready: () => undefined,
    // Unsigned entries (no trust store) are never persisted; test/laws/signed-agent.test.ts covers trust.
    PersistAccepted: () => undefined,
  });

  statusOf(n: DeploymentName, hash: string): RuntimeStatus {
    return { deployment: n, phase: "Running", specHash: hash, ...(checked.has(hash) ? { health: this.health.get(n) ?? "starting" } : {}) };
  }

  fireTimers(): void {
    const due = this.timers;
    this.timers = [];
    for (const e of due) this.inbox.push([e]);
  }

  tick(): void {
    this.clock += 1_000;
    this.dispatch({ _tag: "Tick", now: new Date(this.clock) });
  }

  /** The process dies and starts again: answers owed to the old one are lost; the runtime and the server keep theirs. */
  restart(): void {
    this.state = initialState(CONFIG);
    this.inbox = [];
    this.timers = [];
    this.follow = undefined;
    this.reconcileInFlight = false;
    this.dispatch({ _tag: "Started" });
  }

  /** Connection up, failures over, then every answer and timer until nothing is left. */
  quiesce(): void {
    this.runtimeFails = false;
    this.writesFail = false;
    if (!this.connected) {
      this.connected = true;
      this.inbox.push([{ _tag: "Reconnected" }]);
    }
    for (let i = 0; i < 10_000; i++) {
      const next = this.inbox.shift();
      if (next !== undefined) this.deliver(next);
      else if (this.timers.length > 0) this.fireTimers();
      else return;
    }
    throw new Error("the agent never settles (livelock)");
  }
}

// -------------------------------------------------------------------------------------
// commands
// -------------------------------------------------------------------------------------

interface Model {
  readonly desired: Map<DeploymentName, Wanted>;
}
type Cmd = fc.Command<Model, Device>;

const cmd = (label: string, run: (m: Model, d: Device) => void, check: (m: Model) => boolean = () => true): Cmd => ({
  check,
  run,
  toString: () => label,
});

const put = fc.tuple(fc.nat(2), fc.nat(3)).map(([i, v]) =>
    cmd(`put ${name(i)}@${v}`, (m, d) => {
      m.desired.set(name(i), { _tag: "Spec", version: v });
      d.write(name(i), { _tag: "Spec", version: v });
    }),
  );
const deliver = fc.nat(20).map((i) => cmd(`deliver #${i}`, (_m, d) => void (d.inbox.length > 0 && d.deliver(d.inbox.splice(i % d.inbox.length, 1)[0] as AgentEvent[]))));

// Edits and deliveries weigh more: the interesting histories have several of each between disruptions.
const commands: Array<fc.Arbitrary<Cmd>> = [
  put,
  put,
  put,
  deliver,
  deliver,
  deliver,
  deliver,
  fc.nat(2).map((i) =>
    cmd(`put-malformed ${name(i)}`, (m, d) => {
      m.desired.set(name(i), { _tag: "Malformed" });
      d.write(name(i), { _tag: "Malformed" });
    }),
  ),
  fc.nat(2).map((i) =>
    cmd(`delete ${name(i)}`, (m, d) => {
      m.desired.delete(name(i));
      d.write(name(i), undefined);
    }),
  ),
  fc.nat(20).map((i) =>
    cmd(`deliver-twice #${i}`, (_m, d) => {
      const ns = d.inbox.filter((b) => d.notifications.has(b));
      if (ns.length > 0) d.deliver(ns[i % ns.length] as AgentEvent[]);
    }),
  ),
  fc.constant(cmd("fire-timers", (_m, d) => d.fireTimers())),
  fc.constant(cmd("tick", (_m, d) => d.tick())),
  fc.tuple(fc.nat(2), fc.constantFrom<Health>("starting", "healthy", "unhealthy")).map(([i, h]) =>
    cmd(`health ${name(i)} ${h}`, (_m, d) => void (d.runtime.has(name(i)) && d.health.set(name(i), h))),
  ),
  fc.constant(cmd("resync", (_m, d) => d.dispatch({ _tag: "ResyncDue" }))),
  fc.constant(
    cmd("disconnect", (_m, d) => {
      d.connected = false;
      d.follow = undefined;
    }),
  ),
  fc.constant(
    cmd("reconnect", (_m, d) => {
      if (d.connected) return;
      d.connected = true;
      d.inbox.push([{ _tag: "Reconnected" }]);
    }),
  ),
  fc.constant(cmd("restart-agent", (_m, d) => d.restart())),
  fc.boolean().map((b) => cmd(`runtime-fails ${b}`, (_m, d) => void (d.runtimeFails = b))),
  fc.boolean().map((b) => cmd(`writes-fail ${b}`, (_m, d) => void (d.writesFail = b))),
];

const expectedRuntime = (m: Model): Map<DeploymentName, string> =>
  new Map([...m.desired].flatMap(([n, w]) => (w._tag === "Spec" ? [[n, specHash(spec(n, w.version))] as const] : [])));

/** `health`: the runtime's verdicts, reported for the specs that declare a check. */
const expectedStore = (m: Model, health: ReadonlyMap<DeploymentName, Health>): Map<DeploymentName, ReportedState> =>
  new Map(
    [...m.desired].map(([n, w]): [DeploymentName, ReportedState] => {
      if (w._tag === "Malformed") return [n, { phase: "Failed", error: "unreadable desired entry: value is not JSON" }];
      const hash = specHash(spec(n, w.version));
      return [n, { phase: "Running", specHash: hash, ...(checked.has(hash) ? { health: health.get(n) ?? "starting" } : {}) }];
    }),
  );

const sorted = <V>(m: ReadonlyMap<DeploymentName, V>): Array<[DeploymentName, V]> => [...m].sort(([a], [b]) => a.localeCompare(b));

describe("agent state machine (model-based)", () => {
  it("converges to the model after any interleaving of edits, late/duplicate/lost notifications, reconnects, restarts and failures", () =>
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 80, size: "+1" }), (cmds) => {
        const device = new Device();
        const model: Model = { desired: new Map() };
        device.dispatch({ _tag: "Started" });
        fc.modelRun(() => ({ model, real: device }), cmds);
        device.quiesce();
        // A health verdict that changed since the last pass is picked up by the next runtime check (a tick).
        device.tick();
        device.quiesce();
        expect(sorted(device.runtime)).toEqual(sorted(expectedRuntime(model)));
        expect(sorted(device.store)).toEqual(sorted(expectedStore(model, device.health)));
        expect(sorted(device.state.stored)).toEqual(sorted(device.store));
        expect(device.state.writes).toBe(0);
      }),
      { numRuns: 400 },
    ));

  it("a change of health alone is reported at the next runtime check: starting → healthy → unhealthy", () => {
    const device = new Device();
    const model: Model = { desired: new Map() };
    device.dispatch({ _tag: "Started" });
    model.desired.set(name(0), { _tag: "Spec", version: 1 });
    device.write(name(0), { _tag: "Spec", version: 1 });
    device.quiesce();
    const hash = specHash(spec(name(0), 1));
    expect(device.store.get(name(0))).toEqual({ phase: "Running", specHash: hash, health: "starting" });
    for (const h of ["healthy", "unhealthy"] as const) {
      device.health.set(name(0), h);
      device.tick();
      device.quiesce();
      expect(device.store.get(name(0))).toEqual({ phase: "Running", specHash: hash, health: h });
    }
  });

  it("a second instance of the device is logged once and named in heartbeats until it is no longer seen", () => {
    const device = new Device();
    device.dispatch({ _tag: "Started" });
    device.quiesce();
    device.dispatch({ _tag: "PeerSeen", instance: "me", at: new Date(0) });
    expect(device.logs.filter((l) => l.includes("another agent"))).toEqual([]);
    device.dispatch({ _tag: "PeerSeen", instance: "other", at: new Date(0) });
    device.dispatch({ _tag: "PeerSeen", instance: "other", at: new Date(0) });
    expect(device.logs.filter((l) => l.includes("another agent"))).toEqual([
      "dev-01: another agent (instance other) is running as this device; this one is instance me: they overwrite each other's state; stop one of them",
    ]);
    device.tick();
    expect(device.heartbeats.at(-1)).toEqual(["other"]);
    for (let i = 0; i < 3; i++) device.tick();
    expect(device.heartbeats.at(-1)).toEqual([]);
    expect(device.logs.at(-1)).toBe("dev-01: no longer sees another agent (instance other) as this device");
  });

  it("a fresh follow whose snapshot comes back empty keeps what the agent runs: the deployments it runs or reported are read on their own", () => {
    const device = new Device();
    device.dispatch({ _tag: "Started" });
    device.write(name(0), { _tag: "Spec", version: 0 });
    device.write(name(1), { _tag: "Spec", version: 2 });
    device.quiesce();
    const running = sorted(device.runtime);
    const stored = sorted(device.store);
    expect(running.map(([n]) => n)).toEqual([name(1), name(0)].sort());

    device.shortSnapshots = true;
    // A periodic resync, a reconnect, a restart (which knows only what it reported): each keeps both.
    device.dispatch({ _tag: "ResyncDue" });
    device.quiesce();
    expect(sorted(device.runtime)).toEqual(running);
    device.connected = false;
    device.quiesce();
    expect(sorted(device.runtime)).toEqual(running);
    device.restart();
    device.quiesce();
    expect(sorted(device.runtime)).toEqual(running);
    expect(sorted(device.store)).toEqual(stored);

    // A deletion among them is read too (its tombstone): the deployment goes.
    device.connected = false;
    device.kv.set(name(1), { revision: ++device.revision, value: undefined });
    device.quiesce();
    expect([...device.runtime.keys()]).toEqual([name(0)]);
    expect([...device.store.keys()]).toEqual([name(0)]);
  });
});
