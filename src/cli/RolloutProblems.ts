/**
 * Rollout problems found against the targeted devices (a wave whose selector
 * takes none of them: `RolloutProgress.problems`) are errors of the fleet
 * file: `fleet plan` and `fleet apply` fail on them, with one line per
 * problem naming the file that declares the deployment, the deployment and
 * the field (`fleets/web.ts: deployment web: waves[0].selector …`).
 */
import type { RolloutProgress } from "../diff/Plan.ts";
import type { LoadedFile } from "./FleetFile.ts";

/** The files whose World declares a deployment of this name (all given files when none is known). */
const declaring = (deployment: string, files: ReadonlyArray<Pick<LoadedFile, "path" | "world">>): ReadonlyArray<string> => {
  const found = files.filter((f) => f.world.assignments.some((a) => a.deployments.some((d) => d.name === deployment))).map((f) => f.path);
  return found.length > 0 ? found : files.map((f) => f.path);
};

/** One line per problem, or none. `files`: the loaded fleet files (a saved plan: its file names with empty Worlds). */
export const rolloutProblemLines = (rollouts: ReadonlyArray<RolloutProgress> | undefined, files: ReadonlyArray<Pick<LoadedFile, "path" | "world">>): ReadonlyArray<string> =>
  (rollouts ?? []).flatMap((r) => r.problems.map((x) => `${declaring(r.deployment, files).join(", ") || "the fleet files"}: deployment ${r.deployment}: ${x}`));
