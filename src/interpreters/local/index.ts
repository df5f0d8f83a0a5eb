/**
 * `local({ stateDir })`: the embedded backend. Reality lives in a state
 * directory (default `.fleet/`), like Terraform's local backend: no server,
 * so plans and applies work anywhere, and the CLI's demo runs on it.
 *
 * Contract (the conformance suite holds it to the in-memory reference):
 * - `read` takes no lock (every write is an atomic rename, so a reader always
 *   sees one whole state); bad records are problems, their devices damaged;
 *   a state file that is not one throws `StateCorruptError`;
 * - `apply` takes the lock (retrying up to `lockTimeoutMs`, else `Locked`),
 *   re-reads the state under it, refuses a stale plan as a whole (`Stale`),
 *   applies every action compare-and-set and writes the result in one atomic
 *   write: all of a plan's actions are applied, or (the write failed) all of
 *   them fail, and the previous state is kept as `state.records.backup`;
 *   the plan's rollout ledger records (`Plan.ledger`) go in the same write;
 * - `exclusive(f)` holds the same lock across `f` (a reconcile step), waiting
 *   for it as long as another process holds it; writes inside `f` use it;
 * - each desired entry's fingerprint is its revision in this state's lineage.
 *
 * No agents run against a state directory, so the device side is simulated
 * (`simulate`, `register`): it changes devices and observed state only, never
 * desired state. It is for demos and tests and is labelled so in the CLI.
 */
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { applyLedger, desiredEditor, entryOf, stalePreconditions } from "../../diff/Apply.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import type { Device } from "../../algebra/Device.ts";
import type { DeploymentName, DeviceId } from "../../algebra/Name.ts";
import { isEmptyPlan, type Plan } from "../../diff/Plan.ts";
import type { DesiredEntry, Reality } from "../../diff/Reality.ts";
import type { ActionOutcome, ApplyOptions, ApplyResult, Interpreter, ReadResult } from "../Interpreter.ts";
import type { ExitReleases } from "../ExitReleases.ts";
import { acquireLock, describeLock, forceUnlock, readLock, LockError, type LockInfo, type LockState } from "./Lock.ts";
import { fingerprintSuffix, revisionFingerprint } from "./PackedEntries.ts";
import { specStore } from "./SpecStore.ts";
import { loadState, readHeader, saveState, StateCorruptError, STATE_FILE, type Loaded, type WriteHooks } from "./StateFile.ts";
import type { LocalState } from "./StateRecords.ts";

export { StateCorruptError, LockError, type LockInfo, type LockState };
export { STATE_FILE, BACKUP_FILE, MIGRATED_FILE } from "./StateFile.ts";
export { STATE_FORMAT, STATE_VERSION, decodeState } from "./StateRecords.ts";
export { SPECS_DIR } from "./SpecStore.ts";
export { LOCK_FILE, decodeLock } from "./Lock.ts";

export interface LocalOptions {
  readonly stateDir: string;
  /** How long to retry a held lock, like Terraform's `-lock-timeout`. Default 0: one attempt. */
  readonly lockTimeoutMs?: number;
  /** Recorded in the lock file as who holds it; default the OS user name. */
  readonly holder?: string;
  /** Recorded in the lock file. */
  readonly version?: string;
  /** Called when a write finds the lock held and waits for it (to tell the user). */
  readonly onLockWait?: (holder: string) => void;
  /** Crash-test hooks for the state write. */
  readonly writeHooks?: WriteHooks;
  /** Where the held lock's release is registered, so that signals and crashes release it too. */
  readonly exitReleases?: ExitReleases;
}

/** Thrown by the device-side simulation when another process holds the lock. */
export class StateLockedError extends Error {
  override readonly name = "StateLockedError";
}

export interface LocalInterpreter extends Interpreter {
  readonly stateDir: string;
  /** Serial and lineage of the state on disk (serial 0: none yet). */
  info(): Promise<{ readonly serial: number; readonly lineage: string }>;
  lockState(): Promise<LockState>;
  /** Removes the lock whose id is `id` (`fleet force-unlock`). */
  forceUnlock(id: string): Promise<LockInfo | "unreadable">;
  /**
   * Simulation of the device side, under the lock: `f` returns the new
   * devices and observed state; desired state is never touched.
   */
  simulate(operation: string, f: (r: Reality) => Pick<Reality, "devices" | "observed">): Promise<void>;
  /** Simulation: registers devices with a heartbeat at `at` (as agents do). */
  register(devices: ReadonlyArray<Device>, at: Date): Promise<void>;
  /** Deletes the whole state directory (tests). */
  destroy(): Promise<void>;
}

const fingerprint = (s: LocalState, revision: number): string => revisionFingerprint(fingerprintSuffix(s.lineage), revision);

/** How long `exclusive` waits for a held lock between checks of its `stop`. */
const EXCLUSIVE_POLL_MS = 1_000;

export const local = async (options: LocalOptions): Promise<LocalInterpreter> => {
  const { stateDir } = options;
  const lockTimeoutMs = options.lockTimeoutMs ?? 0;
  // One store per interpreter: each spec is read and verified once, however often the state is.
  const store = specStore(stateDir);
  // The state this interpreter last read, with the identity of the file it came from. Every write
  // renames a new file into place (a new inode), so an unchanged identity under the lock means
  // unchanged content: apply reuses it instead of holding a second copy of a million devices.
  let lastRead: { readonly identity: string; readonly loaded: Loaded } | undefined;
  const identity = (): Promise<string | undefined> =>
    stat(join(stateDir, STATE_FILE), { bigint: true }).then(
      (st) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`,
      () => undefined,
    );
  const load = async (): Promise<Loaded> => {
    const before = await identity();
    if (before !== undefined && lastRead?.identity === before) return lastRead.loaded;
    const loaded = await loadState(stateDir, store);
    // Kept only if the file did not change while it was read (reads take no lock).
    lastRead = before !== undefined && loaded.from === "records" && (await identity()) === before ? { identity: before, loaded } : undefined;
    return loaded;
  };

  /** True while `exclusive` holds the lock: writes meanwhile are under it already. */
  let held = false;
  const acquire = async (operation: string, timeoutMs: number, onWait?: (h: LockState) => void) => {
    await mkdir(stateDir, { recursive: true });
    return acquireLock(stateDir, {
      operation,
      timeoutMs,
      ...(options.holder !== undefined ? { who: options.holder } : {}),
      ...(options.version !== undefined ? { version: options.version } : {}),
      ...(onWait !== undefined ? { onWait } : {}),
      ...(options.exitReleases !== undefined ? { exitReleases: options.exitReleases } : {}),
    });
  };
  const withLock = async <A>(operation: string, onBusy: (holder: LockState) => A, f: () => Promise<A>): Promise<A> => {
    if (held) return f();
    const got = await acquire(operation, lockTimeoutMs, options.onLockWait === undefined ? undefined : (h) => options.onLockWait?.(describeLock(h)));
    if (got._tag === "Busy") return onBusy(got.holder);
    try {
      return await f();
    } finally {
      await got.release();
    }
  };

  const simulate = (operation: string, f: (r: Reality) => Pick<Reality, "devices" | "observed">): Promise<void> =>
    withLock(
      operation,
      (holder) => {
        throw new StateLockedError(`the state in ${stateDir} is locked by ${describeLock(holder)}`);
      },
      async () => {
        const { state } = await loadState(stateDir, store);
        const next = f(state.reality);
        await saveState(stateDir, { ...state, serial: state.serial + 1, reality: { ...state.reality, devices: next.devices, observed: next.observed } }, store, options.writeHooks);
      },
    );

  return {
    name: "local",
    stateDir,
    read: async (): Promise<ReadResult> => {
      const { state, problems } = await load();
      return { reality: state.reality, problems };
    },
    apply: (plan: Pick<Plan, "actions" | "ledger">, applyOptions?: ApplyOptions): Promise<ApplyResult> =>
      withLock<ApplyResult>(
        "apply",
        (holder) => ({ _tag: "Locked", holder: describeLock(holder) }),
        async () => {
          const { state } = await load();
          const stale = stalePreconditions(state.reality, plan);
          if (stale.length > 0) return { _tag: "Stale", stale };
          if (isEmptyPlan(plan)) return { _tag: "Completed", outcomes: [] };
          // Copy on write: only the devices the plan touches get a new map (a million devices, a few actions).
          const edit = desiredEditor(state.reality);
          let revision = state.revision;
          const outcomes: ActionOutcome[] = [];
          for (const action of plan.actions) {
            if (action._tag === "Delete") {
              edit.set(action.device, action.deployment, undefined);
              outcomes.push({ _tag: "Applied", action });
            } else {
              const fp = fingerprint(state, ++revision);
              edit.set(action.device, action.deployment, entryOf(action, fp));
              outcomes.push({ _tag: "Applied", action, fingerprint: fp });
            }
          }
          try {
            // The ledger is in the same file as the entries: one atomic write carries both.
            const edited = edit.result();
            const rollouts = applyLedger(state.reality.rollouts, plan.ledger);
            const reality = rollouts === undefined ? edited : { ...edited, rollouts };
            await saveState(stateDir, { ...state, serial: state.serial + 1, revision, reality }, store, options.writeHooks);
          } catch (e) {
            // One write carries every action: if it fails, none of them happened.
            const error = `writing ${stateDir}: ${errorMessage(e)}`;
            const failed: ActionOutcome[] = plan.actions.map((action) => ({ _tag: "Failed", action, error }));
            applyOptions?.onProgress?.({ done: failed.length, total: failed.length, failed: failed.length });
            return { _tag: "Completed", outcomes: failed };
          }
          applyOptions?.onProgress?.({ done: outcomes.length, total: outcomes.length, failed: 0 });
          return { _tag: "Completed", outcomes };
        },
      ),
    exclusive: async (f, { onWait, stop }) => {
      if (held) return f();
      let stopped = false;
      void stop.then(() => (stopped = true));
      let told: string | undefined;
      for (;;) {
        const got = await acquire("reconcile", EXCLUSIVE_POLL_MS);
        if (got._tag === "Acquired") {
          held = true;
          try {
            return await f();
          } finally {
            held = false;
            await got.release();
          }
        }
        // The same process is told once, however long it keeps the lock.
        const owner = got.holder._tag === "Held" ? `${got.holder.info.host}:${got.holder.info.pid}` : describeLock(got.holder);
        if (owner !== told) onWait({ owner: (told = owner), text: describeLock(got.holder) });
        if (stopped) return undefined;
      }
    },
    close: async () => {},
    info: async () => {
      return readHeader(stateDir, store);
    },
    lockState: () => readLock(stateDir),
    forceUnlock: (id) => forceUnlock(stateDir, id),
    simulate,
    register: (devices, at) =>
      simulate("register", (r) => {
        const next = new Map(r.devices);
        for (const d of devices) next.set(d.id, { device: d, lastHeartbeat: at });
        return { devices: next, observed: r.observed };
      }),
    destroy: () => rm(stateDir, { recursive: true, force: true }),
  };
};
