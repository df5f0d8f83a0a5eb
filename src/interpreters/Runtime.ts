/**
 * The device side: what an agent drives to run its desired deployments
 * (podman for real, a simulated runtime for demos, tests and benchmarks).
 *
 * `reconcile` is level-triggered and idempotent: it is given the complete
 * desired set every time and makes the device match it, so an agent that
 * missed events only needs to call it again.
 */
import type { Deployment } from "../algebra/Deployment.ts";
import type { DeploymentName } from "../algebra/Name.ts";
import type { Health, Phase } from "../diff/Reality.ts";

export interface DeploymentStatus {
  readonly deployment: DeploymentName;
  readonly phase: Phase;
  /** The spec hash the status refers to. */
  readonly specHash: string;
  readonly error?: string;
  /** Only while `Running` a spec that declares a health check: the worst of its services'. */
  readonly health?: Health;
}

export interface Runtime {
  readonly name: string;
  /** Makes the device run exactly `desired`; returns the status of each desired deployment. */
  reconcile(desired: ReadonlyArray<Deployment>): Promise<ReadonlyArray<DeploymentStatus>>;
  /** The current status of the deployments it runs (for periodic re-checks). */
  status(): Promise<ReadonlyArray<DeploymentStatus>>;
  close(): Promise<void>;
}
