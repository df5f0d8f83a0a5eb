/**
 * Plans for humans, in the style of `terraform plan`: `+` create, `~` update
 * (old → new short spec hash), `-` delete, grouped by device (default) or by
 * deployment, conflicts first, notes after, and one summary line
 * (`Plan: N to create, M to update, K to delete.` or `No changes. …`).
 * Staged rollouts follow the actions (`RolloutText.ts`); rollback actions
 * read `~ web (rollback)  <target> → <prior>  rollback: why`.
 *
 * Pure: a plan in, lines out (lazily: a million-device plan is written as it
 * is rendered); the order is the plan's canonical order.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { shortHash } from "../algebra/Deployment.ts";
import type { Device } from "../algebra/Device.ts";
import { matchConflict, OrdAction, type Action, type AssignedBy, type Conflict, type Plan, type Presence } from "../diff/Plan.ts";
import type { ActionOutcome } from "../interpreters/Interpreter.ts";
import type { ApplyCounts } from "../program/Apply.ts";
import { heldBack, rolloutsSection } from "./RolloutText.ts";
import type { Paint } from "./Terminal.ts";

export type GroupBy = "device" | "deployment";

const presenceText = (p: Presence): string => (p === "online" ? "online" : p === "offline" ? "offline" : "not registered");

export const assignedByText = (r: AssignedBy): string => {
  const extra = [...(r.assignment !== r.selector ? [r.selector] : []), ...(r.priority !== 0 ? [`priority ${r.priority}`] : [])];
  return `by ${r.assignment}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}`;
};

const symbol = (a: Action, p: Paint): string => (a._tag === "Create" ? p.green("+") : a._tag === "Update" ? p.yellow("~") : p.red("-"));

const hashes = (a: Action): string =>
  a._tag === "Create" ? shortHash(a.specHash) : a._tag === "Update" ? `${shortHash(a.previous.specHash)} → ${shortHash(a.specHash)}` : shortHash(a.previous.specHash);

const why = (a: Action): string =>
  a._tag === "Delete"
    ? a.reason._tag === "Unassigned"
      ? "no longer assigned"
      : a.reason._tag === "RolledBack"
        ? `rollback: ${a.reason.why} (it had no entry before)`
        : "device no longer in the fleet"
    : a._tag === "Update" && a.repair !== undefined
      ? `tampered: ${a.repair} → republish`
      : a._tag === "Update" && a.rollback !== undefined
        ? `rollback: ${a.rollback} → the spec it ran before`
        : assignedByText(a.reason);

/** Rollback actions stand out: the deployment reads `web (rollback)`. */
const deploymentText = (a: Action): string =>
  (a._tag === "Update" && a.rollback !== undefined) || (a._tag === "Delete" && a.reason._tag === "RolledBack") ? `${a.deployment} (rollback)` : a.deployment;

const pad = (s: string, n: number): string => s + " ".repeat(Math.max(0, n - s.length));

const deviceText = (d: Device): string => {
  const labels = Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(",");
  return `labels {${labels}} arch ${d.arch}`;
};

/** One conflict as one line of text (no colour). */
export const conflictText: (c: Conflict) => string = matchConflict({
  DeploymentConflict: (c) =>
    `${c.device} ${c.deployment}: different specs at priority ${c.priority} from ${c.candidates
      .map((x) => `${x.assignment} (${shortHash(x.specHash)})`)
      .join(", ")}; give one a higher priority or make them agree`,
  DeviceConflict: (c) => `${c.device}: declared ${c.declarations.length} times, differently: ${c.declarations.map(deviceText).join(" vs ")}`,
  HostPortConflict: (c) =>
    `${c.device}: host port ${c.hostPort}/${c.protocol} is bound ${c.bindings.length} times, by ${c.bindings
      .map((b) => `${b.deployment}/${b.service}${b.hostIp !== undefined ? ` on ${b.hostIp}` : ""}`)
      .join(", ")}; the device is left as it is`,
  MountConflict: (c) => `${c.device} ${c.deployment}: service ${c.service} mounts ${c.sources.join(", ")} all at ${c.target}; the device is left as it is`,
});

export const conflictLines = (conflicts: ReadonlyArray<Conflict>, p: Paint): ReadonlyArray<string> => {
  if (conflicts.length === 0) return [];
  const out = [p.red(p.bold(`Conflicts (${conflicts.length}): apply is refused until they are resolved`))];
  for (const c of conflicts) out.push(`  ${p.red("!")} ${conflictText(c)}`);
  out.push("");
  return out;
};

const groups = <K extends string>(actions: ReadonlyArray<Action>, key: (a: Action) => K): ReadonlyArray<readonly [K, ReadonlyArray<Action>]> => {
  const m = new Map<K, Action[]>();
  for (const a of actions) {
    const k = key(a);
    const list = m.get(k);
    if (list === undefined) m.set(k, [a]);
    else list.push(a);
  }
  return [...m.entries()].sort(Ord.contramap(([k]: readonly [string, unknown]) => k)(S.Ord).compare);
};

/** The actions in `OrdAction` order: a plan's own (diff makes them so), else a sorted copy. */
const inCanonicalOrder = (actions: ReadonlyArray<Action>): ReadonlyArray<Action> => {
  for (let i = 1; i < actions.length; i++) if (OrdAction.compare(actions[i - 1] as Action, actions[i] as Action) > 0) return [...actions].sort(OrdAction.compare);
  return actions;
};

/**
 * The runs of consecutive actions of one device, in device order, read off the actions in
 * canonical order in place: no map of a million per-device arrays for a million devices.
 */
function* deviceRuns(actions: ReadonlyArray<Action>): Generator<ReadonlyArray<Action>> {
  let start = 0;
  for (let i = 1; i <= actions.length; i++)
    if (i === actions.length || (actions[i] as Action).device !== (actions[start] as Action).device) {
      yield actions.slice(start, i);
      start = i;
    }
}

/** The actions section, line by line: a plan of a million devices is written as it is rendered, never held as text. */
export function* actionLines(plan: Plan, groupBy: GroupBy, p: Paint): Generator<string> {
  if (plan.actions.length === 0) return;
  yield "Fleet will perform the following actions:";
  yield "";
  const actions = inCanonicalOrder(plan.actions);
  if (groupBy === "device") {
    for (const run of deviceRuns(actions)) {
      const first = run[0] as Action;
      yield p.bold(`  # ${first.device}`) + (first.presence === "online" ? "" : p.yellow(` (${presenceText(first.presence)})`));
      const w = Math.max(...run.map((a) => deploymentText(a).length));
      const hw = Math.max(...run.map((a) => hashes(a).length));
      for (const a of run) yield `  ${symbol(a, p)} ${pad(deploymentText(a), w)}  ${pad(hashes(a), hw)}  ${p.dim(why(a))}`;
      yield "";
    }
  } else {
    for (const [deployment, group] of groups(actions, (a) => a.deployment)) {
      yield p.bold(`  # ${deployment}`);
      const label = (a: Action): string =>
        `${a.device}${a.presence === "online" ? "" : ` (${presenceText(a.presence)})`}${deploymentText(a) === a.deployment ? "" : " (rollback)"}`;
      let w = 0;
      let hw = 0;
      for (const a of group) {
        w = Math.max(w, label(a).length);
        hw = Math.max(hw, hashes(a).length);
      }
      for (const a of group) yield `  ${symbol(a, p)} ${pad(label(a), w)}  ${pad(hashes(a), hw)}  ${p.dim(why(a))}`;
      yield "";
    }
  }
}

export const noteLines = (plan: Plan, p: Paint): ReadonlyArray<string> => {
  const out: string[] = [];
  if (plan.summary.notOnline > 0) {
    let offline = 0;
    let unregistered = 0;
    for (const a of plan.actions) if (a.presence === "offline") offline++;
    else if (a.presence === "unregistered") unregistered++;
    const n = plan.summary.notOnline;
    const what =
      offline === 0
        ? "devices that have not registered yet"
        : unregistered === 0
          ? "offline devices"
          : `devices that are not online (${offline} offline, ${unregistered} not registered)`;
    out.push(`${p.yellow("Note:")} ${n} action${n === 1 ? " is" : "s are"} for ${what}; they take effect when those devices connect.`);
  }
  if (plan.skipped.length > 0) {
    out.push(`${p.yellow("Warning:")} ${plan.skipped.length} device${plan.skipped.length === 1 ? "" : "s"} skipped and left exactly as they are:`);
    for (const s of plan.skipped) out.push(`  ${s.device}: ${s.reason}`);
  }
  if (out.length > 0) out.push("");
  return out;
};

export const summaryLine = (plan: Plan, p: Paint): string => {
  const s = plan.summary;
  const rollouts = plan.rollouts ?? [];
  const held = rollouts.reduce((n, r) => n + (r.state === "Progressing" ? heldBack(r) : 0), 0);
  const stopped = rollouts.filter((r) => r.state === "Paused" || r.state === "RolledBack").length;
  const records = plan.ledger?.length ?? 0;
  const extra = [
    ...(held > 0 ? [` ${held} held back by rollouts (above).`] : []),
    ...(stopped > 0 ? [` ${stopped} rollout${stopped === 1 ? "" : "s"} stopped (above).`] : []),
    ...(records > 0 ? [` ${records} rollout record${records === 1 ? "" : "s"} to write.`] : []),
  ].join("");
  if (s.create + s.update + s.delete === 0) {
    const conflicts = s.conflicts > 0 ? ` ${s.conflicts} conflict${s.conflicts === 1 ? "" : "s"} left as they are.` : "";
    if (extra !== "") return `${p.bold("No changes now.")}${extra}${conflicts}`;
    return `${p.green(p.bold("No changes."))} Reality matches the World (${s.unchanged} entr${s.unchanged === 1 ? "y" : "ies"} on ${s.devices} device${s.devices === 1 ? "" : "s"}).${conflicts}`;
  }
  return p.bold(`Plan: ${s.create} to create, ${s.update} to update, ${s.delete} to delete.`) + extra;
};

/** The whole plan as `fleet plan` prints it, line by line (`[...planLines(…)]` for an array). */
export function* planLines(plan: Plan, groupBy: GroupBy, p: Paint): Generator<string> {
  yield* conflictLines(plan.conflicts, p);
  yield* actionLines(plan, groupBy, p);
  yield* rolloutsSection(plan.rollouts, p);
  yield* noteLines(plan, p);
  yield summaryLine(plan, p);
}

export const failureLines = (outcomes: ReadonlyArray<ActionOutcome>, p: Paint): ReadonlyArray<string> =>
  outcomes.flatMap((o) => (o._tag === "Failed" ? [`${p.red("Failed:")} ${o.action._tag.toLowerCase()} ${o.action.device} ${o.action.deployment}: ${o.error}`] : []));

export const applyCompleteLine = (c: ApplyCounts, p: Paint): string => {
  const text = `Apply complete! ${c.created} created, ${c.updated} updated, ${c.deleted} deleted, ${c.failed} failed.`;
  return c.failed > 0 ? p.yellow(p.bold(text)) : p.green(p.bold(text));
};
