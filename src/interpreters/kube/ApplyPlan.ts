/**
 * Applying a plan to Device objects with server-side apply.
 *
 * Contract (the Interpreter contract, in Kubernetes terms):
 * - the whole plan is checked first against a fresh read: if any action's
 *   expected fingerprint no longer holds, nothing is written (`Stale`);
 * - the actions of one device become one apply of the control plane's
 *   entries of that Device, made conditional on the resourceVersion just
 *   read (the last guard). When the object changed meanwhile (a heartbeat,
 *   another writer) it is read again, the actions' expectations are checked
 *   again, and the write retried; an action whose entry did change fails;
 * - a device without an object first gets an empty one (create, which fails
 *   if someone else made it meanwhile), so every entry write is conditional;
 * - fields another field manager owns are a conflict: the actions they touch
 *   fail, naming the manager and fields, and the device's other actions are
 *   applied without them; `forceConflicts` takes the fields over instead;
 * - the result of every write is checked: an entry the control plane let go
 *   of that another manager still holds is a failed Delete, naming it;
 * - every action gets exactly one outcome, in plan order.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as E from "fp-ts/lib/Either.js";
import type { DeviceId } from "../../algebra/Name.ts";
import { expectedFingerprint, stalePreconditions } from "../../diff/Apply.ts";
import type { Action, Plan } from "../../diff/Plan.ts";
import type { ActionOutcome, ApplyOptions, ApplyResult } from "../Interpreter.ts";
import { formatFailure, type Api, type FieldConflict } from "./Api.ts";
import { DEVICE } from "./Crds.ts";
import { decodeDeviceObject, desiredConfig, emptyDevice, encodeEntry, type DeviceObject } from "./DeviceObject.ts";
import { CONTROL_PLANE, appliedEntries, entryOfField, entryOwners } from "./FieldOwners.ts";
import { forEachConcurrently } from "../Pool.ts";
import type { DeviceSnapshot } from "./Read.ts";

export interface ApplyContext {
  readonly api: Api;
  readonly namespace: string;
  readonly forceConflicts: boolean;
  /** Devices written at once. */
  readonly concurrency: number;
}

/** Rounds of read-check-write per device before giving up on an object that keeps changing. */
const MAX_ROUNDS = 8;

interface Indexed {
  readonly index: number;
  readonly action: Action;
}

type Outcomes = Map<number, ActionOutcome>;

const failed = (i: Indexed, error: string): ActionOutcome => ({ _tag: "Failed", action: i.action, error });

const describeConflicts = (conflicts: ReadonlyArray<FieldConflict>, force: boolean): string => {
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(c.manager, [...(byManager.get(c.manager) ?? []), c.field]);
  const parts = [...byManager]
    .sort(Ord.contramap(([k]: readonly [string, unknown]) => k)(S.Ord).compare)
    .map(([m, fields]) => `field manager ${JSON.stringify(m)} owns ${fields.slice(0, 3).join(", ")}${fields.length > 3 ? ` and ${fields.length - 3} more` : ""}`);
  return `conflict: ${parts.join("; ")}${force ? "" : " (--force-conflicts takes them over)"}`;
};

const heldBy = (name: string, holders: ReadonlyArray<string>): string =>
  `entry ${name} is also held by field manager${holders.length === 1 ? "" : "s"} ${holders.map((h) => JSON.stringify(h)).join(", ") || "(unknown)"}: ` +
  "server-side apply removes an entry only when no manager holds it; it must be removed there (--force-conflicts does not remove other managers' fields)";

const fetchDevice = async (ctx: ApplyContext, id: DeviceId): Promise<E.Either<string, DeviceObject | undefined>> => {
  const got = await ctx.api.get(DEVICE, ctx.namespace, id);
  if (E.isLeft(got)) return got.left._tag === "NotFound" ? E.right(undefined) : E.left(formatFailure(got.left));
  const d = decodeDeviceObject(got.right);
  return E.isRight(d) ? E.right(d.right) : E.left(`the Device object is unreadable: ${d.left.message}`);
};

/** Applies the actions of one device; returns one outcome per action. */
const applyDevice = async (ctx: ApplyContext, id: DeviceId, actions: ReadonlyArray<Indexed>, known: DeviceObject | undefined, out: Outcomes): Promise<void> => {
  let pending = [...actions];
  let current = known;
  let forceRepairs = false;
  const failAll = (error: string): void => {
    for (const i of pending) out.set(i.index, failed(i, error));
    pending = [];
  };

  for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
    if (current === undefined) {
      const created = await ctx.api.create(DEVICE, ctx.namespace, emptyDevice(id, ctx.namespace), CONTROL_PLANE);
      if (E.isLeft(created) && created.left._tag !== "AlreadyExists") return failAll(`creating the Device object: ${formatFailure(created.left)}`);
      const fetched = await fetchDevice(ctx, id);
      if (E.isLeft(fetched)) return failAll(fetched.left);
      current = fetched.right;
      if (current === undefined) continue; // deleted again meanwhile
    }
    const obj: DeviceObject = current;

    // Every round re-checks what the plan expects against the object about to be written.
    pending = pending.filter((i) => {
      const found = obj.entries.find((e) => e.name === i.action.deployment)?.fingerprint ?? null;
      const expected = expectedFingerprint(i.action);
      if (found === expected) return true;
      out.set(i.index, failed(i, `changed concurrently: expected ${expected ?? "no entry"}, found ${found ?? "no entry"}`));
      return false;
    });
    if (pending.length === 0) return;

    // Under server-side apply, letting go of an entry removes it only if no one else holds any of
    // its fields (else what remains is a partial entry the schema rejects): such a Delete fails here.
    pending = pending.filter((i) => {
      if (i.action._tag !== "Delete") return true;
      const holders = entryOwners(obj.managedFields, i.action.deployment, CONTROL_PLANE);
      if (holders.length === 0) return true;
      out.set(i.index, failed(i, heldBy(i.action.deployment, holders)));
      return false;
    });
    if (pending.length === 0) return;

    // The control plane's intent for this Device: the entries it holds, with the actions applied.
    const mine = appliedEntries(obj.managedFields, CONTROL_PLANE);
    const entries = new Map(obj.entries.filter((e) => mine.has(e.name)).map((e) => [e.name as string, e.wire]));
    for (const { action: a } of pending) {
      if (a._tag === "Delete") entries.delete(a.deployment);
      else entries.set(a.deployment, encodeEntry(a.deployment, a.specHash, obj.resourceVersion, a.spec));
    }
    const deleted = new Set(pending.filter((i) => i.action._tag === "Delete").map((i) => i.action.deployment as string));
    const finalNames = [...new Set([...obj.entries.map((e) => e.name as string).filter((n) => !deleted.has(n)), ...entries.keys()])];
    const heldByOthers = obj.entries.some((e) => entryOwners(obj.managedFields, e.name, CONTROL_PLANE).length > 0);

    // A Device that would hold nothing at all, that never registered and that no one else
    // writes to is removed rather than left empty.
    if (finalNames.length === 0 && !heldByOthers && obj.registration === undefined && obj.lastHeartbeat === undefined && obj.observed.length === 0) {
      const removed = await ctx.api.remove(DEVICE, ctx.namespace, id, obj.resourceVersion);
      if (E.isRight(removed)) {
        for (const i of pending) out.set(i.index, { _tag: "Applied", action: i.action });
        return;
      }
      if (removed.left._tag !== "Modified" && removed.left._tag !== "NotFound") return failAll(`deleting the Device object: ${formatFailure(removed.left)}`);
      const fetched = await fetchDevice(ctx, id);
      if (E.isLeft(fetched)) return failAll(fetched.left);
      current = fetched.right;
      continue;
    }

    const written = await ctx.api.apply(
      DEVICE,
      ctx.namespace,
      id,
      desiredConfig(id, ctx.namespace, obj.resourceVersion, [...entries.values()] as Array<Readonly<Record<string, unknown>> & { readonly name: string }>, finalNames),
      CONTROL_PLANE,
      ctx.forceConflicts || forceRepairs,
    );
    if (E.isLeft(written)) {
      const f = written.left;
      if (f._tag === "FieldConflicts") {
        // A repair republishes an entry another manager edited behind the control plane's back:
        // the edit is the tampering, so its fields are taken back (only when every conflict is a repair's).
        const repairs = new Set(pending.filter((i) => i.action._tag === "Update" && i.action.repair !== undefined).map((i) => i.action.deployment as string));
        if (!forceRepairs && f.conflicts.every((c) => repairs.has(entryOfField(c.field) ?? ""))) {
          forceRepairs = true;
          continue;
        }
        // Fail the actions whose entries conflict; apply the rest without them (nothing was written).
        const byEntry = new Map<string, FieldConflict[]>();
        for (const c of f.conflicts) {
          const name = entryOfField(c.field);
          if (name === undefined) return failAll(describeConflicts(f.conflicts, ctx.forceConflicts));
          byEntry.set(name, [...(byEntry.get(name) ?? []), c]);
        }
        const before = pending.length;
        pending = pending.filter((i) => {
          const cs = byEntry.get(i.action.deployment);
          if (cs === undefined) return true;
          out.set(i.index, failed(i, describeConflicts(cs, ctx.forceConflicts)));
          return false;
        });
        if (pending.length === before) return failAll(describeConflicts(f.conflicts, ctx.forceConflicts));
        continue;
      }
      if (f._tag === "Modified" || f._tag === "NotFound") {
        const fetched = await fetchDevice(ctx, id);
        if (E.isLeft(fetched)) return failAll(fetched.left);
        current = fetched.right;
        continue;
      }
      return failAll(formatFailure(f));
    }

    const after = decodeDeviceObject(written.right);
    if (E.isLeft(after)) return failAll(`written, but the Device object reads back unreadable: ${after.left.message}`);
    for (const i of pending) {
      const a = i.action;
      const entry = after.right.entries.find((e) => e.name === a.deployment);
      if (a._tag === "Delete") {
        if (entry === undefined) out.set(i.index, { _tag: "Applied", action: a });
        else {
          out.set(i.index, failed(i, heldBy(a.deployment, entryOwners(after.right.managedFields, a.deployment, CONTROL_PLANE))));
        }
      } else if (entry !== undefined && entry.specHash === a.specHash) {
        out.set(i.index, { _tag: "Applied", action: a, fingerprint: entry.fingerprint });
      } else {
        out.set(i.index, failed(i, `written, but the entry reads back as ${entry === undefined ? "absent" : entry.specHash}`));
      }
    }
    return;
  }
  failAll(`gave up after ${MAX_ROUNDS} attempts: the Device object kept changing`);
};

export const applyToDevices = async (
  ctx: ApplyContext,
  snapshot: DeviceSnapshot,
  plan: Pick<Plan, "actions">,
  options: ApplyOptions = {},
): Promise<ApplyResult> => {
  const stale = stalePreconditions(snapshot.reality, plan);
  if (stale.length > 0) return { _tag: "Stale", stale };

  const groups = new Map<DeviceId, Indexed[]>();
  plan.actions.forEach((action, index) => {
    const g = groups.get(action.device);
    if (g === undefined) groups.set(action.device, [{ index, action }]);
    else g.push({ index, action });
  });

  const out: Outcomes = new Map();
  let failedCount = 0;
  const total = plan.actions.length;
  await forEachConcurrently([...groups], ctx.concurrency, async ([id, actions]) => {
    const why = snapshot.reality.damaged.get(id);
    if (why !== undefined) for (const i of actions) out.set(i.index, failed(i, `the Device object is unreadable: ${why}`));
    else await applyDevice(ctx, id, actions, snapshot.objects.get(id), out);
    for (const i of actions) if (out.get(i.index)?._tag === "Failed") failedCount++;
    options.onProgress?.({ done: out.size, total, failed: failedCount });
  });

  return { _tag: "Completed", outcomes: plan.actions.map((action, index) => out.get(index) ?? { _tag: "Failed", action, error: "not attempted" }) };
};
