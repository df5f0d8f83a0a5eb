/**
 * `podmanRuntime(options)`: the device side of an agent, on podman.
 *
 * `reconcile(desired)` is level-triggered and idempotent (the `Runtime`
 * contract): it lists the managed containers, plans the container steps
 * (`planContainers`), runs them, and reports the status of every desired
 * deployment, in name order. Containers without the project's labels are
 * never listed, so never touched; a running container whose spec hash is
 * unchanged is never touched either, so changing nothing restarts nothing.
 */
import type { Deployment } from "../../algebra/Deployment.ts";
import type { ReadProblem } from "../Interpreter.ts";
import type { DeploymentStatus, Runtime } from "../Runtime.ts";
import { planContainers } from "./ContainerPlan.ts";
import { listManaged, type ManagedContainer } from "./Containers.ts";
import type { DeploymentView } from "./DeploymentPhase.ts";
import { connectPodman, type PodmanServiceOptions } from "./PodmanService.ts";
import { reconciler, viewOfSpec, type ReconcilerOptions } from "./Reconciler.ts";
import { serial } from "./Serial.ts";

export interface PodmanRuntimeOptions extends PodmanServiceOptions, ReconcilerOptions {
  /** Managed containers whose labels do not decode, and failed removals. Default: one line on stderr each. */
  readonly onProblem?: (problem: ReadProblem) => void;
}

export interface PodmanRuntime extends Runtime {
  /** podman's version, e.g. `4.3.1` (for the device's inventory). */
  readonly podmanVersion: string;
}

const stderrProblem = (p: ReadProblem): void => {
  process.stderr.write(`podman runtime: ${p.key}: ${p.message}\n`);
};

/** Views of the deployments the containers' labels describe (before any reconcile told us the specs). */
export const viewsFromLabels = (containers: ReadonlyArray<ManagedContainer>): ReadonlyArray<DeploymentView> => {
  const byName = new Map<string, ManagedContainer[]>();
  for (const c of containers) byName.set(c.deployment, [...(byName.get(c.deployment) ?? []), c]);
  return [...byName.values()].map((cs) => {
    const first = cs[0] as ManagedContainer;
    return { name: first.deployment, specHash: first.specHash, services: first.services };
  });
};

export const podmanRuntime = async (options: PodmanRuntimeOptions = {}): Promise<PodmanRuntime> => {
  const connection = await connectPodman(options);
  const engine = reconciler(connection.client, options);
  const onProblem = options.onProblem ?? stderrProblem;
  const once = serial();
  let desiredNow: ReadonlyArray<Deployment> | undefined;

  const list = async (report: boolean): Promise<ReadonlyArray<ManagedContainer>> => {
    const listing = await listManaged(connection.client);
    if (report) for (const p of listing.problems) onProblem(p);
    return listing.containers;
  };

  return {
    name: "podman",
    podmanVersion: connection.version,
    reconcile: (desired) =>
      once(async (): Promise<ReadonlyArray<DeploymentStatus>> => {
        desiredNow = desired;
        const steps = planContainers(desired, await list(true));
        const outcomes = await engine.run(steps);
        // Errors of desired services surface in their status; a failed removal has no status to go to.
        for (const o of outcomes)
          if (o.step._tag === "Remove" && o.error !== undefined && o.blocked !== true) onProblem({ source: "podman", key: o.step.container.name, message: o.error });
        engine.retain(desired);
        return engine.statuses(desired.map(viewOfSpec), await list(false));
      }),
    status: () =>
      once(async () => {
        const containers = await list(true);
        return engine.statuses(desiredNow !== undefined ? desiredNow.map(viewOfSpec) : viewsFromLabels(containers), containers);
      }),
    close: () => once(() => connection.close()),
  };
};
