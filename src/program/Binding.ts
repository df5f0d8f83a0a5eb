/**
 * What a saved plan (`fleet plan --out`, then `fleet apply PLAN.json`) is
 * bound to, and the check that it still holds before it is applied.
 *
 * A saved plan carries the World it was made from (the value, not only its
 * hash), the digest of the Reality it was made against, and its backend.
 * `bindSavedPlan` applies it only if its actions are *exactly* what that
 * World and Reality give: it re-reads Reality (the digest must match), checks
 * that the World it carries hashes to its recorded hash and, when the fleet
 * files can still be loaded, that they still give that World, then re-diffs
 * and refuses on any difference. So an edit of the actions, however
 * consistent (a spec changed and its hash recomputed, an action dropped or
 * added), is refused; what remains possible is to edit the World it carries
 * and re-plan, which is writing a fleet file by another name.
 *
 * The digest covers every desired entry's key and fingerprint, every
 * registered device (labels, arch, facts; not heartbeats, which move all the
 * time) and the damaged device ids: the inputs of the actions. Presence
 * notes (from heartbeats) are not part of the binding.
 */
import * as E from "fp-ts/lib/Either.js";
import * as S from "fp-ts/lib/string.js";
import { canonicalJson, contentHash } from "../algebra/Canonical.ts";
import { DeviceCodec, type Device } from "../algebra/Device.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";
import { entryKey } from "../algebra/Name.ts";
import type { Action, Plan } from "../diff/Plan.ts";
import { desiredEntries, type Reality } from "../diff/Reality.ts";
import { encodeRecord, type LedgerWrite } from "../diff/Ledger.ts";
import type { Interpreter } from "../interpreters/Interpreter.ts";
import { worldHash, type World } from "../world/World.ts";
import { inventoryOf, planFrom, type Planned } from "./Plan.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface SavedPlan {
  readonly createdAt: Date;
  readonly fleetVersion: string;
  /** The fleet files as given, and the directory they were given in. */
  readonly files: ReadonlyArray<string>;
  readonly cwd: string;
  /** The World the plan was made from, and its `worldHash`. */
  readonly world: World;
  readonly worldHash: string;
  /** `realityDigest` of the Reality the plan was made against. */
  readonly reality: string;
  /** Where it was planned (a state directory, servers), never a secret. */
  readonly backend: string;
  /** The `now` the plan's presence notes were judged at. */
  readonly now: Date;
  readonly plan: Plan;
}

/** Why a saved plan is not applied; nothing was written. */
export type BindingRefusal =
  | { readonly _tag: "WrongBackend"; readonly planned: string; readonly target: string }
  | { readonly _tag: "RealityChanged" }
  | { readonly _tag: "WorldEdited" }
  | { readonly _tag: "FleetFilesUnloadable"; readonly message: string }
  | { readonly _tag: "FleetFilesChanged"; readonly saved: string; readonly loaded: string }
  | { readonly _tag: "ActionsDiffer"; readonly key: string; readonly saved: string; readonly expected: string };

export interface Bound {
  readonly planned: Planned;
  /** Whether the fleet files were re-loaded and found to give the plan's World. */
  readonly filesChecked: boolean;
}

// -------------------------------------------------------------------------------------
// digest
// -------------------------------------------------------------------------------------

/** Digest of what a plan's actions depend on in Reality (see the module header). */
export const realityDigest = (r: Reality): string => {
  const desired: string[] = [];
  for (const e of desiredEntries(r)) desired.push(`${entryKey(e.device, e.deployment)}=${e.fingerprint}`);
  return contentHash({
    desired: desired.sort(S.Ord.compare),
    devices: [...r.devices.values()].map((d) => canonicalJson(DeviceCodec.encode(d.device))).sort(S.Ord.compare),
    damaged: [...r.damaged.keys()].sort(S.Ord.compare),
    // Only when there are any, so that digests of Realities without rollouts are what they were.
    ...(r.rollouts !== undefined && r.rollouts.size > 0 ? { rollouts: [...r.rollouts.values()].map((x) => canonicalJson(encodeRecord(x))).sort(S.Ord.compare) } : {}),
  });
};

// -------------------------------------------------------------------------------------
// binding
// -------------------------------------------------------------------------------------

/** An action as the binding compares it: everything but the presence note. */
const actionText = ({ presence: _presence, ...rest }: Action): string => canonicalJson(rest);

const describeAction = (a: Action | undefined): string =>
  a === undefined ? "no action" : `${a._tag.toLowerCase()}${a._tag === "Delete" ? "" : ` ${a.specHash.slice(0, 12)}`}`;

const byKey = (actions: ReadonlyArray<Action>): ReadonlyMap<string, Action> => new Map(actions.map((a) => [entryKey(a.device, a.deployment), a]));

/** The first entry (in key order) whose action differs between the saved plan and the re-diff, if any. */
const firstDifference = (saved: ReadonlyArray<Action>, expected: ReadonlyArray<Action>): BindingRefusal | undefined => {
  const s = byKey(saved);
  const e = byKey(expected);
  const keys = [...new Set([...s.keys(), ...e.keys()])].sort(S.Ord.compare);
  for (const key of keys) {
    const a = s.get(key);
    const b = e.get(key);
    if (a !== undefined && b !== undefined && actionText(a) === actionText(b)) continue;
    return { _tag: "ActionsDiffer", key, saved: describeAction(a), expected: describeAction(b) };
  }
  return undefined;
};

const ledgerText = (ledger: ReadonlyArray<LedgerWrite> | undefined): string =>
  canonicalJson((ledger ?? []).map((w) => (w._tag === "Put" ? { _tag: "Put", record: encodeRecord(w.record) } : w)));

/** The rollout ledger writes must be exactly what the re-diff gives too. */
const ledgerDifference = (saved: ReadonlyArray<LedgerWrite> | undefined, expected: ReadonlyArray<LedgerWrite> | undefined): BindingRefusal | undefined =>
  ledgerText(saved) === ledgerText(expected)
    ? undefined
    : { _tag: "ActionsDiffer", key: "(rollout ledger)", saved: `${saved?.length ?? 0} ledger writes`, expected: `${expected?.length ?? 0} ledger writes` };

export interface BindOptions {
  /** `describe` of the interpreter's target, compared with the plan's `backend`. */
  readonly backend: string;
  /**
   * Re-loads the plan's fleet files against the registered inventory;
   * `undefined` when they are not available (the plan is then checked
   * against the World it carries only). A throw means they no longer load.
   */
  readonly reload?: (inventory: ReadonlyArray<Device>) => Promise<World | undefined>;
}

/**
 * Checks that a saved plan still holds (see the module header) and returns
 * it planned afresh, ready for `apply`; or why it does not hold.
 */
export const bindSavedPlan = async (interpreter: Interpreter, saved: SavedPlan, options: BindOptions): Promise<E.Either<BindingRefusal, Bound>> => {
  if (saved.backend !== options.backend) return E.left({ _tag: "WrongBackend", planned: saved.backend, target: options.backend });
  const read = await interpreter.read();
  if (realityDigest(read.reality) !== saved.reality) return E.left({ _tag: "RealityChanged" });
  if (worldHash(saved.world) !== saved.worldHash) return E.left({ _tag: "WorldEdited" });
  let filesChecked = false;
  if (options.reload !== undefined) {
    let loaded: World | undefined;
    try {
      loaded = await options.reload(inventoryOf(read.reality));
    } catch (e) {
      return E.left({ _tag: "FleetFilesUnloadable", message: errorMessage(e) });
    }
    if (loaded !== undefined) {
      const hash = worldHash(loaded);
      if (hash !== saved.worldHash) return E.left({ _tag: "FleetFilesChanged", saved: saved.worldHash, loaded: hash });
      filesChecked = true;
    }
  }
  const planned = planFrom(saved.world, read, { now: saved.now });
  if (planned.plan.conflicts.length > 0) return E.left({ _tag: "ActionsDiffer", key: "(conflicts)", saved: "no conflict", expected: `${planned.plan.conflicts.length} conflicts` });
  const difference = firstDifference(saved.plan.actions, planned.plan.actions) ?? ledgerDifference(saved.plan.ledger, planned.plan.ledger);
  return difference !== undefined ? E.left(difference) : E.right({ planned, filesChecked });
};
