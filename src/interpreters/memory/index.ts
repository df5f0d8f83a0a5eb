/**
 * `memory()`: the in-memory interpreter. It keeps a Reality, models a KV
 * store's revisions (each write bumps a counter; fingerprints are revisions),
 * and applies plans compare-and-set exactly as the real backends must. It is
 * the reference the conformance suite holds every other interpreter to, and
 * it lets tests play the device side (`register`, `heartbeat`, `report`)
 * and a foreign writer (`overwriteSpec`).
 *
 * Like every backend's, its read trusts no stored spec that does not hash
 * to the hash stored with it: such an entry is marked `tampered`, and the
 * plan republishes it.
 */
import type { Device } from "../../algebra/Device.ts";
import { specHash, specMismatch, type Deployment } from "../../algebra/Deployment.ts";
import { entryKey, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import { applyLedger, desiredEditor, entryOf, stalePreconditions } from "../../diff/Apply.ts";
import type { Plan } from "../../diff/Plan.ts";
import { desiredEntries, emptyReality, type DesiredEntry, type ObservedState, type Reality } from "../../diff/Reality.ts";
import type { ActionOutcome, ApplyOptions, ApplyResult, Interpreter, ReadResult } from "../Interpreter.ts";

export interface MemoryInterpreter extends Interpreter {
  /** The current Reality (immutable snapshot). */
  snapshot(): Reality;
  /** Device side: register (or re-register) a device. */
  register(device: Device, at?: Date): void;
  heartbeat(id: DeviceId, at: Date): void;
  /** Device side: report observed state. */
  report(state: ObservedState): void;
  /** Marks a device's records as unreadable, as a backend does for a corrupt value. */
  damage(id: DeviceId, why: string): void;
  /** Fails the next writes of these keys (`device.deployment`), as a flaky backend would. */
  failWrites(keys: ReadonlyArray<string>, error: string): void;
  /** A foreign writer replaces the stored spec of a published entry and keeps its stated hash (a new revision). */
  overwriteSpec(device: DeviceId, deployment: DeploymentName, spec: Deployment): void;
}

/** The Reality as read: entries whose spec does not hash to their stated hash are marked tampered. */
const checked = (r: Reality): Reality => {
  let marked: DesiredEntry[] | undefined;
  for (const e of desiredEntries(r)) {
    if (e.spec === undefined || e.tampered !== undefined) continue;
    const actual = specHash(e.spec);
    if (actual !== e.specHash) (marked ??= []).push({ ...e, tampered: specMismatch(e.specHash, actual) });
  }
  if (marked === undefined) return r;
  const w = desiredEditor(r);
  for (const e of marked) w.set(e.device, e.deployment, e);
  return w.result();
};

export const memory = (initial: Reality = emptyReality): MemoryInterpreter => {
  let state: Reality = initial;
  // One check per state (specs' hashes are cached per object): reads between writes cost nothing.
  let read: { readonly of: Reality; readonly as: Reality } | undefined;
  const current = (): Reality => {
    if (read?.of !== state) read = { of: state, as: checked(state) };
    return read.as;
  };
  let revision = 0;
  const failing = new Map<string, string>();

  return {
    name: "memory",
    snapshot: current,
    read: async (): Promise<ReadResult> => ({ reality: current(), problems: [] }),
    apply: async (plan: Pick<Plan, "actions" | "ledger">, options?: ApplyOptions): Promise<ApplyResult> => {
      const stale = stalePreconditions(current(), plan);
      if (stale.length > 0) return { _tag: "Stale", stale };
      const outcomes: ActionOutcome[] = [];
      const w = desiredEditor(state);
      let failed = 0;
      for (const action of plan.actions) {
        const key = entryKey(action.device, action.deployment);
        const injected = failing.get(key);
        if (injected !== undefined) {
          failing.delete(key);
          outcomes.push({ _tag: "Failed", action, error: injected });
          failed++;
        } else if (action._tag === "Delete") {
          w.set(action.device, action.deployment, undefined);
          outcomes.push({ _tag: "Applied", action });
        } else {
          const fingerprint = String(++revision);
          w.set(action.device, action.deployment, entryOf(action, fingerprint));
          outcomes.push({ _tag: "Applied", action, fingerprint });
        }
        options?.onProgress?.({ done: outcomes.length, total: plan.actions.length, failed });
      }
      state = w.result();
      const rollouts = applyLedger(state.rollouts, plan.ledger);
      if (rollouts !== undefined) state = { ...state, rollouts };
      return { _tag: "Completed", outcomes };
    },
    close: async () => {},
    register: (device, at) => {
      const devices = new Map(state.devices);
      devices.set(device.id, { device, ...(at !== undefined ? { lastHeartbeat: at } : {}) });
      state = { ...state, devices };
    },
    heartbeat: (id, at) => {
      const r = state.devices.get(id);
      if (r === undefined) return;
      state = { ...state, devices: new Map(state.devices).set(id, { ...r, lastHeartbeat: at }) };
    },
    report: (s) => {
      const observed = new Map(state.observed);
      observed.set(s.device, new Map(observed.get(s.device) ?? []).set(s.deployment, s));
      state = { ...state, observed };
    },
    damage: (id, why) => {
      state = { ...state, damaged: new Map(state.damaged).set(id, why) };
    },
    failWrites: (keys, error) => {
      for (const k of keys) failing.set(k, error);
    },
    overwriteSpec: (device, deployment, spec) => {
      const e = state.desired.get(device)?.get(deployment);
      if (e === undefined) throw new Error(`overwriteSpec: ${entryKey(device, deployment)} is not published`);
      const w = desiredEditor(state);
      w.set(device, deployment, { ...e, fingerprint: String(++revision), spec });
      state = w.result();
    },
  };
};
