/**
 * The reference semantics of a plan, used by the laws and by the in-memory
 * interpreter.
 *
 * `applyPlan` sets or removes desired entries unconditionally, so applying a
 * plan twice equals applying it once. Its fingerprints are the spec hashes
 * (content addresses); real backends use revisions instead.
 *
 * `stalePreconditions` is the compare-and-set guard every interpreter keeps:
 * a create expects no entry, an update or delete expects the fingerprint the
 * plan saw.
 */
import { EditedMap } from "../algebra/EditedMap.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { isEmptyPlan, type Action, type Plan } from "./Plan.ts";
import { keyOf, type LedgerWrite, type RolloutKey, type RolloutRecord } from "./Ledger.ts";
import type { DesiredEntry, Reality } from "./Reality.ts";

/**
 * Copy-on-write edits of a Reality's desired entries: each touched device's
 * map is copied once, however many of its entries change, and the outer map
 * is not copied at all (an `EditedMap` over it), so a batch of edits is
 * linear in its size, not in the fleet's. `result()` drops devices left empty.
 */
export const desiredEditor = (
  reality: Reality,
): { readonly set: (id: DeviceId, name: DeploymentName, entry: DesiredEntry | undefined) => void; readonly result: () => Reality } => {
  const changed = new Map<DeviceId, Map<DeploymentName, DesiredEntry>>();
  const entriesOf = (id: DeviceId): Map<DeploymentName, DesiredEntry> => {
    let m = changed.get(id);
    if (m === undefined) changed.set(id, (m = new Map(reality.desired.get(id) ?? [])));
    return m;
  };
  return {
    set: (id, name, entry) => {
      const m = entriesOf(id);
      if (entry === undefined) m.delete(name);
      else m.set(name, entry);
    },
    result: () => {
      const changes = new Map<DeviceId, ReadonlyMap<DeploymentName, DesiredEntry> | undefined>();
      for (const [id, m] of changed) changes.set(id, m.size === 0 ? undefined : m);
      return { ...reality, desired: EditedMap.of(reality.desired, changes) };
    },
  };
};

/** The entry an action writes (`undefined`: a delete), with `fingerprint` as the backend assigns it. */
export const entryOf = (a: Action, fingerprint: string): DesiredEntry | undefined =>
  a._tag === "Delete"
    ? undefined
    : { device: a.device, deployment: a.deployment, specHash: a.specHash, fingerprint, spec: a.spec, ...(a.prior !== undefined ? { prior: a.prior } : {}) };

/** A Reality's rollout ledgers after the plan's ledger writes. */
export const applyLedger = (
  rollouts: ReadonlyMap<RolloutKey, RolloutRecord> | undefined,
  writes: ReadonlyArray<LedgerWrite> | undefined,
): ReadonlyMap<RolloutKey, RolloutRecord> | undefined => {
  if (writes === undefined || writes.length === 0) return rollouts;
  const next = new Map(rollouts ?? []);
  for (const w of writes) {
    if (w._tag === "Put") next.set(keyOf(w.record), w.record);
    else next.delete(w.key);
  }
  return next;
};

export const applyPlan = (reality: Reality, plan: Pick<Plan, "actions" | "ledger">): Reality => {
  if (isEmptyPlan(plan)) return reality;
  const edit = desiredEditor(reality);
  for (const a of plan.actions) edit.set(a.device, a.deployment, entryOf(a, a._tag === "Delete" ? "" : a.specHash));
  const next = edit.result();
  const rollouts = applyLedger(reality.rollouts, plan.ledger);
  return rollouts === undefined ? next : { ...next, rollouts };
};

export interface StaleEntry {
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
  /** `null` means the plan expected no entry. */
  readonly expected: string | null;
  readonly found: string | null;
}

/** The entry's fingerprint an action expects to find (`null`: none). */
export const expectedFingerprint = (a: Action): string | null => (a._tag === "Create" ? null : a.previous.fingerprint);

/** The actions whose expectation no longer holds in `reality`; empty means the plan may be applied. */
export const stalePreconditions = (reality: Reality, plan: Pick<Plan, "actions">): ReadonlyArray<StaleEntry> => {
  const out: StaleEntry[] = [];
  for (const a of plan.actions) {
    const found = reality.desired.get(a.device)?.get(a.deployment)?.fingerprint ?? null;
    const expected = expectedFingerprint(a);
    if (found !== expected) out.push({ device: a.device, deployment: a.deployment, expected, found });
  }
  return out;
};
