/**
 * Staged rollouts for humans (`fleet plan`, `fleet status`): per rollout its
 * state, then one line per wave (`wave 2 of 4: 100 devices (10 %), opens
 * when wave 1 ≥ 95 % succeeded`), the budget in use, what is held back, and
 * why a rollout stopped. Pure: progress in, lines out (docs/rollouts.md).
 */
import { shortHash } from "../algebra/Deployment.ts";
import { needed } from "../algebra/Rollout.ts";
import type { RolloutProgress, WaveProgress } from "../diff/Plan.ts";
import type { Paint } from "./Terminal.ts";

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** `37 of 100 updated, 30 succeeded, 1 failed, 2 offline`: the counts that are not zero, updated always. */
export const waveCounts = (w: WaveProgress): string =>
  [
    `${w.updated} of ${w.targeted} updated`,
    ...(w.succeeded > 0 ? [`${w.succeeded} succeeded`] : []),
    ...(w.failed > 0 ? [`${w.failed} failed`] : []),
    ...(w.offline > 0 ? [`${w.offline} offline`] : []),
  ].join(", ");

/** One wave, with its gate. */
export const waveLine = (r: RolloutProgress, w: WaveProgress, p: Paint): string => {
  const head = `wave ${w.index + 1} of ${r.waves.length}: ${plural(w.targeted, "device")} (${w.definition})`;
  switch (w.gate) {
    case "waiting": {
      const before = r.waves[w.index - 1];
      return `${head}, ${p.dim(before === undefined ? "waiting" : `opens when wave ${before.index + 1} ≥ ${before.threshold} % succeeded`)}`;
    }
    case "open": {
      const online = w.targeted - w.offline;
      return `${head}, ${p.yellow("open")}: ${waveCounts(w)}; passes at ${needed(w.threshold, online)} of ${online} succeeded (${w.threshold} %)`;
    }
    case "passed":
      return `${head}, ${p.green("passed")}${w.offline > 0 || w.pending > 0 ? ` (${waveCounts(w)})` : ""}`;
    case "failed":
    case "timed out":
      return `${head}, ${p.red(w.gate)}: ${waveCounts(w)}`;
  }
};

const stateText = (r: RolloutProgress, p: Paint): string => {
  const at = `wave ${r.wave + 1} of ${r.waves.length}`;
  switch (r.state) {
    case "Progressing":
      return p.yellow(`progressing, ${at}`);
    case "Complete":
      return p.green("complete");
    case "Paused":
      return p.red(`paused at ${at}`);
    case "RolledBack":
      return p.red(`rolled back at ${at}`);
  }
};

/** Devices waiting for a wave to open, plus updates the budget holds back now. */
export const heldBack = (r: RolloutProgress): number => r.waves.reduce((n, w) => n + w.waiting.length, 0) + (r.budget?.heldBack ?? 0);

/** The lines of one rollout (indented by two). */
export const rolloutLines = (r: RolloutProgress, p: Paint): ReadonlyArray<string> => {
  const out = [p.bold(`  # ${r.deployment} → ${shortHash(r.target)}: `) + stateText(r, p)];
  for (const w of r.waves) out.push(`    ${waveLine(r, w, p)}`);
  if (r.budget !== undefined) {
    const b = r.budget;
    out.push(
      `    budget: ${b.unavailable} of at most ${b.maxUnavailable} unavailable in the tightest of ${plural(b.groups, "group")}` +
        (b.heldBack > 0 ? `; ${plural(b.heldBack, "update")} held back by it` : ""),
    );
  }
  const waiting = r.waves.reduce((n, w) => n + w.waiting.length, 0);
  if (waiting > 0 && r.state === "Progressing") out.push(`    ${p.dim(`${plural(waiting, "device")} wait for their wave to open`)}`);
  if (r.failure !== undefined) out.push(`    ${p.red(r.state === "RolledBack" ? "Rolled back:" : "Paused:")} ${r.failure.reason}`);
  if (r.state === "Paused") out.push(`    ${p.dim("nothing new is published for this spec; change the deployment (a new spec starts a new rollout) to go on")}`);
  for (const x of r.problems) out.push(`    ${p.red("Error:")} ${x}`);
  return out;
};

/** The rollouts section of a plan (empty without staged rollouts). */
export const rolloutsSection = (rollouts: ReadonlyArray<RolloutProgress> | undefined, p: Paint): ReadonlyArray<string> => {
  if (rollouts === undefined || rollouts.length === 0) return [];
  return ["Rollouts:", "", ...rollouts.flatMap((r) => [...rolloutLines(r, p), ""])];
};
