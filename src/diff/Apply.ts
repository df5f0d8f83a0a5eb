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
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { isEmptyPlan, type Action, type Plan } from "./Plan.ts";
import { keyOf, type LedgerWrite, type RolloutKey, type RolloutRecord } from "./Ledger.ts";
import type { DesiredEntry, Reality } from "./Reality.ts";

/**
 * Copy-on-write edits of a Reality's desired entries: the outer map and each
 * touched device's map are copied once, however many entries change, so a
 * batch of edits is linear in its size. `result()` drops devices left empty.
 */
export const desiredEditor = (
  reality: Reality,
): { readonly set: (id: DeviceId, name: DeploymentName, entry: DesiredEntry | undefined) => void; readonly result: () => Reality } => {
  const desired = new Map(reality.desired);
  const copied = new Set<DeviceId>();
  const entriesOf = (id: DeviceId): Map<DeploymentName, DesiredEntry> => {
    let m = desired.get(id) as Map<DeploymentName, DesiredEntry> | undefined;
    if (!copied.has(id)) {
      desired.set(id, (m = new Map(m ?? [])));
      copied.add(id);
    }
    return m as Map<DeploymentName, DesiredEntry>;
  };
  return {
    set: (id, name, entry) => {
      const m = entriesOf(id);
      if (entry === undefined) m.delete(name);
      else m.set(name, entry);
    },
    result: () => {
      for (const id of copied) if ((desired.get(id) as Map<DeploymentName, DesiredEntry>).size === 0) desired.delete(id);
      return { ...reality, desired };
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
