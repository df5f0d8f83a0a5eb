/**
 * How one service of a `PodmanV0` score becomes one podman container: its
 * name, its labels and its libpod create body (a SpecGenerator). Pure.
 *
 * Laws:
 * - the name is a function of (deployment, service) alone and is injective:
 *   both parts are DNS labels (no '_'), so `fleet_<deployment>_<service>`
 *   never names two pairs;
 * - every container this project makes carries `managed=true`, its
 *   deployment, its service, the deployment's spec hash and the sorted list
 *   of the deployment's services, so the containers alone describe what runs
 *   (no state file on the device);
 * - the mapping is faithful: env, bind mounts (absolute sources) and named
 *   volumes (other sources), published ports (host IP, host port defaulting
 *   to the container port, protocol), restart policy and command are passed
 *   through unchanged, and a health check becomes podman's own (`healthconfig`,
 *   exec form, durations in nanoseconds), so `podman inspect` and
 *   `podman healthcheck run` see it as if made with `--health-cmd`.
 */
import * as S from "fp-ts/lib/string.js";
import type { Deployment, HealthCheck, PortMapping, Service, VolumeMount } from "../../algebra/Deployment.ts";
import { specHash } from "../../algebra/Deployment.ts";

// -------------------------------------------------------------------------------------
// label scheme
// -------------------------------------------------------------------------------------

export const LABEL_PREFIX = "io.fleet-algebra";
export const LABEL_MANAGED = `${LABEL_PREFIX}.managed`;
export const LABEL_DEPLOYMENT = `${LABEL_PREFIX}.deployment`;
export const LABEL_SERVICE = `${LABEL_PREFIX}.service`;
export const LABEL_SPEC_HASH = `${LABEL_PREFIX}.spec-hash`;
/** Comma-separated, sorted: lets a reader notice a service whose container is missing. */
export const LABEL_SERVICES = `${LABEL_PREFIX}.services`;

/** The libpod list filter that selects exactly this project's containers. */
export const MANAGED_FILTER = `${LABEL_MANAGED}=true`;

export const containerName = (deployment: string, service: string): string => `fleet_${deployment}_${service}`;

export const containerLabels = (d: Deployment, service: Service): Readonly<Record<string, string>> => ({
  [LABEL_MANAGED]: "true",
  [LABEL_DEPLOYMENT]: d.name,
  [LABEL_SERVICE]: service.name,
  [LABEL_SPEC_HASH]: specHash(d),
  [LABEL_SERVICES]: d.score.services
    .map((s) => s.name)
    .sort(S.Ord.compare)
    .join(","),
});

// -------------------------------------------------------------------------------------
// libpod SpecGenerator (the subset we write)
// -------------------------------------------------------------------------------------

export interface LibpodPortMapping {
  readonly container_port: number;
  readonly host_port: number;
  readonly host_ip?: string;
  readonly protocol: "tcp" | "udp";
}

export interface LibpodMount {
  readonly destination: string;
  readonly source: string;
  readonly type: "bind";
  readonly options: ReadonlyArray<string>;
}

export interface LibpodNamedVolume {
  readonly Name: string;
  readonly Dest: string;
  readonly Options: ReadonlyArray<string>;
}

/** libpod's `healthconfig` (Docker's Schema2HealthConfig): durations in nanoseconds. */
export interface LibpodHealthConfig {
  readonly Test: ReadonlyArray<string>;
  readonly Interval: number;
  readonly Retries: number;
  readonly StartPeriod: number;
  readonly Timeout: number;
}

export interface LibpodCreateBody {
  readonly name: string;
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  readonly command?: ReadonlyArray<string>;
  readonly restart_policy: Service["restart"];
  readonly portmappings: ReadonlyArray<LibpodPortMapping>;
  readonly mounts: ReadonlyArray<LibpodMount>;
  readonly volumes: ReadonlyArray<LibpodNamedVolume>;
  /** Seconds podman waits after SIGTERM before SIGKILL. */
  readonly stop_timeout: number;
  readonly healthconfig?: LibpodHealthConfig;
}

const portMapping = (p: PortMapping): LibpodPortMapping => ({
  container_port: p.container,
  // Omitted host port means "the same as the container's"; podman would pick a random one.
  host_port: p.host ?? p.container,
  ...(p.hostIp !== undefined ? { host_ip: p.hostIp } : {}),
  protocol: p.protocol,
});

const NANOS = 1_000_000_000;

/** `CMD` (exec form): the score already spelled a shell command as `/bin/sh -c …`. */
export const healthConfig = (h: HealthCheck): LibpodHealthConfig => ({
  Test: ["CMD", ...h.command],
  Interval: h.intervalSeconds * NANOS,
  Retries: h.retries,
  StartPeriod: h.startPeriodSeconds * NANOS,
  Timeout: h.timeoutSeconds * NANOS,
});

const isBind = (v: VolumeMount): boolean => v.source.startsWith("/");
const accessOption = (v: VolumeMount): string => (v.readOnly ? "ro" : "rw");

export const createBody = (d: Deployment, service: Service, stopTimeoutSeconds: number): LibpodCreateBody => ({
  name: containerName(d.name, service.name),
  image: service.image,
  labels: containerLabels(d, service),
  env: service.env,
  ...(service.command !== undefined ? { command: service.command } : {}),
  restart_policy: service.restart,
  portmappings: service.ports.map(portMapping),
  mounts: service.volumes.filter(isBind).map((v) => ({ destination: v.target, source: v.source, type: "bind", options: [accessOption(v)] })),
  volumes: service.volumes.filter((v) => !isBind(v)).map((v) => ({ Name: v.source, Dest: v.target, Options: [accessOption(v)] })),
  stop_timeout: stopTimeoutSeconds,
  ...(service.healthcheck !== undefined ? { healthconfig: healthConfig(service.healthcheck) } : {}),
});
