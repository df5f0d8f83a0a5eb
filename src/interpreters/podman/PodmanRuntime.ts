/**
 * `podmanRuntime(options)`: the device side of an agent, on podman.
 *
 * `reconcile(desired)` is level-triggered and idempotent (the `Runtime`
 * contract): it lists the managed containers, plans the container steps
 * (`planContainers`), runs them, and reports the status of every desired
 * deployment, in name order. Containers without the project's labels are
 * never listed, so never touched; a running container whose spec hash is
 * unchanged is never touched either, so changing nothing restarts nothing.
 *
 * Health checks: the running containers of desired services that declare one
 * are checked on their intervals (HealthChecks.ts: podman runs the check,
 * the runtime only schedules it, since no systemd may be there to), and each
 * status carries the deployment's verdict; the agent's periodic status read
 * reports a change.
 */
import { specHash, type Deployment, type HealthCheck } from "../../algebra/Deployment.ts";
import type { Health } from "../../diff/Reality.ts";
import type { ReadProblem } from "../Interpreter.ts";
import type { DeploymentStatus, Runtime } from "../Runtime.ts";
import { planContainers } from "./ContainerPlan.ts";
import { listManaged, type ManagedContainer } from "./Containers.ts";
import type { DeploymentView } from "./DeploymentPhase.ts";
import { healthChecks, type HealthTarget } from "./HealthChecks.ts";
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
  const checks = healthChecks(connection.client);

  /** Checks exactly the running containers of the desired specs' services that declare a health check. */
  const health = (containers: ReadonlyArray<ManagedContainer>): ReadonlyMap<string, Health> => {
    const declared = new Map<string, HealthCheck>();
    for (const d of desiredNow ?? [])
      for (const s of d.score.services) if (s.healthcheck !== undefined) declared.set(`${d.name}\u0000${specHash(d)}\u0000${s.name}`, s.healthcheck);
    const targets: HealthTarget[] = [];
    for (const c of containers) {
      const check = c.state === "running" ? declared.get(`${c.deployment}\u0000${c.specHash}\u0000${c.service}`) : undefined;
      if (check !== undefined) targets.push({ id: c.id, check });
    }
    checks.track(targets);
    return checks.verdicts();
  };

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
        const containers = await list(false);
        return engine.statuses(desired.map(viewOfSpec), containers, health(containers));
      }),
    status: () =>
      once(async () => {
        const containers = await list(true);
        return engine.statuses(desiredNow !== undefined ? desiredNow.map(viewOfSpec) : viewsFromLabels(containers), containers, health(containers));
      }),
    close: () =>
      once(async () => {
        checks.close();
        await connection.close();
      }),
  };
};
