/**
 * The phase of one deployment on this device, from its containers. Pure.
 *
 * Rules, per service of the deployment (its container is the one with the
 * deployment's spec hash):
 * - running: fine;
 * - no container, or made but not started: `Failed` with the error podman
 *   gave when we tried (image not found, port taken, name in use), else
 *   `Pending` (not done yet);
 * - ended (exited/stopped): `Pending` when podman will restart it (restart
 *   `always`, `unless-stopped`, or `on-failure` after a non-zero exit), with
 *   the exit code as the error; otherwise `Failed` ("exited with code N and
 *   restart policy ... does not restart it");
 * - paused: `Failed` (nothing unpauses it); stopping, removing, other
 *   transient states: `Pending`.
 * The deployment is `Failed` if any service is, else `Pending` if any
 * service is, else `Running`. Errors are joined in service-name order.
 *
 * Health: a `Running` deployment whose services declare health checks
 * carries the worst of their verdicts (`unhealthy` over `starting` over
 * `healthy`); a deployment that is not running, or declares no check, has no
 * health.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import type { DeploymentName } from "../../algebra/Name.ts";
import type { Health, Phase } from "../../diff/Reality.ts";
import type { DeploymentStatus } from "../Runtime.ts";
import type { ContainerDetail, ManagedContainer } from "./Containers.ts";
import { ENDED } from "./ContainerPlan.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** What a deployment is meant to be on this device: from its spec, or from its containers' labels. */
export interface DeploymentView {
  readonly name: DeploymentName;
  readonly specHash: string;
  /** Sorted service names. */
  readonly services: ReadonlyArray<string>;
  /** Restart policy per service when the spec is known (else `inspect` says). */
  readonly restart?: Readonly<Record<string, string>>;
}

export interface ServiceObservation {
  readonly service: string;
  readonly container?: ManagedContainer;
  /** From `inspect`, for containers that are not running. */
  readonly detail?: ContainerDetail;
  /** The last error podman gave us for this service at this spec hash. */
  readonly error?: string;
  /** Podman's verdict of the service's health check; absent when it declares none. */
  readonly health?: Health;
}

type ServicePhase = { readonly phase: Phase; readonly error?: string };

// -------------------------------------------------------------------------------------
// rules
// -------------------------------------------------------------------------------------

const willRestart = (policy: string, exitCode: number): boolean =>
  policy === "always" || policy === "unless-stopped" || (policy === "on-failure" && exitCode !== 0);

export const servicePhase = (view: DeploymentView, o: ServiceObservation): ServicePhase => {
  const c = o.container;
  const tag = `service ${o.service}`;
  if (c === undefined) return o.error !== undefined ? { phase: "Failed", error: `${tag}: ${o.error}` } : { phase: "Pending" };
  switch (c.state) {
    case "running":
      return { phase: "Running" };
    case "created":
    case "configured":
    case "initialized":
      return o.error !== undefined ? { phase: "Failed", error: `${tag}: ${o.error}` } : { phase: "Pending" };
    case "paused":
      return { phase: "Failed", error: `${tag} is paused` };
    default:
      break;
  }
  if (ENDED.has(c.state)) {
    const policy = view.restart?.[o.service] ?? o.detail?.restartPolicy ?? "no";
    const why = o.detail?.error !== undefined && o.detail.error !== "" ? ` (${o.detail.error})` : "";
    if (willRestart(policy, c.exitCode)) {
      const n = o.detail !== undefined && o.detail.restartCount > 0 ? `, restarted ${o.detail.restartCount} times so far` : "";
      return { phase: "Pending", error: `${tag} exited with code ${c.exitCode}${why}; restarting (restart policy "${policy}"${n})` };
    }
    if (o.error !== undefined) return { phase: "Failed", error: `${tag}: ${o.error}` };
    return {
      phase: "Failed",
      error: `${tag} exited with code ${c.exitCode}${why} and restart policy "${policy === "" ? "no" : policy}" does not restart it`,
    };
  }
  return { phase: "Pending" };
};

const HEALTH_RANK: Readonly<Record<Health, number>> = { healthy: 0, starting: 1, unhealthy: 2 };

/** The worst verdict among the services that declare a check; undefined when none does. */
export const worstHealth = (observations: ReadonlyArray<ServiceObservation>): Health | undefined =>
  observations.reduce<Health | undefined>(
    (worst, o) => (o.health === undefined ? worst : worst === undefined || HEALTH_RANK[o.health] > HEALTH_RANK[worst] ? o.health : worst),
    undefined,
  );

export const deploymentStatus = (view: DeploymentView, observations: ReadonlyArray<ServiceObservation>): DeploymentStatus => {
  const phases = [...observations].sort(Ord.contramap((o: ServiceObservation) => o.service)(S.Ord).compare).map((o) => servicePhase(view, o));
  const failed = phases.filter((p) => p.phase === "Failed");
  const pending = phases.filter((p) => p.phase === "Pending");
  const phase: Phase = failed.length > 0 ? "Failed" : pending.length > 0 ? "Pending" : "Running";
  const errors = (failed.length > 0 ? failed : pending).flatMap((p) => (p.error !== undefined ? [p.error] : []));
  const health = phase === "Running" ? worstHealth(observations) : undefined;
  return {
    deployment: view.name,
    phase,
    specHash: view.specHash,
    ...(phase !== "Running" && errors.length > 0 ? { error: errors.join("; ") } : {}),
    ...(health !== undefined ? { health } : {}),
  };
};
