/**
 * The device-level reality: the containers that carry this project's labels,
 * as podman reports them.
 *
 * Contract:
 * - only containers labelled `io.fleet-algebra.managed=true` are listed
 *   (podman filters server-side), so nothing else on the host is ever seen,
 *   let alone touched;
 * - wire types are permissive (podman versions add fields); a managed
 *   container whose labels do not decode (bad deployment name, no spec hash)
 *   is reported as a problem with its name and otherwise ignored: it is not
 *   ours to remove, and not evidence of anything;
 * - results are sorted by (deployment, service, id).
 */
import * as S from "fp-ts/lib/string.js";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { DeploymentName, isDnsLabel } from "../../algebra/Name.ts";
import { BackendUnavailableError, OrdReadProblemByKey, type ReadProblem } from "../Interpreter.ts";
import { LABEL_DEPLOYMENT, LABEL_SERVICE, LABEL_SERVICES, LABEL_SPEC_HASH, MANAGED_FILTER } from "./ContainerSpec.ts";
import type { LibpodClient } from "./LibpodClient.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface ManagedContainer {
  readonly id: string;
  readonly name: string;
  readonly deployment: DeploymentName;
  readonly service: string;
  readonly specHash: string;
  /** The deployment's services when this container was made (sorted). */
  readonly services: ReadonlyArray<string>;
  /** libpod state: created, configured, initialized, running, paused, stopping, stopped, exited, removing, unknown. */
  readonly state: string;
  readonly exitCode: number;
  /** Unix seconds of the last start; 0 when never started. */
  readonly startedAt: number;
}

/** What only `inspect` tells: asked for containers that are not running. */
export interface ContainerDetail {
  readonly restartPolicy: string;
  readonly restartCount: number;
  readonly error: string;
}

export interface ManagedListing {
  readonly containers: ReadonlyArray<ManagedContainer>;
  readonly problems: ReadonlyArray<ReadProblem>;
}

// -------------------------------------------------------------------------------------
// wire codecs (permissive)
// -------------------------------------------------------------------------------------

const ListItem = t.intersection([
  t.type({ Id: t.string }),
  t.partial({
    Names: t.union([t.array(t.string), t.null]),
    Labels: t.union([t.record(t.string, t.string), t.null]),
    State: t.string,
    ExitCode: t.number,
    StartedAt: t.number,
  }),
]);

const Inspect = t.partial({
  RestartCount: t.number,
  State: t.partial({ Status: t.string, Error: t.string, ExitCode: t.number }),
  HostConfig: t.partial({ RestartPolicy: t.union([t.partial({ Name: t.string }), t.null]) }),
});

export const SOURCE = "podman";

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

const compareContainers = (a: ManagedContainer, b: ManagedContainer): number =>
  a.deployment !== b.deployment
    ? a.deployment < b.deployment
      ? -1
      : 1
    : a.service !== b.service
      ? a.service < b.service
        ? -1
        : 1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0;

/** Decodes one list entry; a string says why it is not a container we can reason about. */
export const decodeListItem = (u: unknown): ManagedContainer | { readonly key: string; readonly problem: string } => {
  const item = ListItem.decode(u);
  if (isLeft(item)) {
    const id = typeof u === "object" && u !== null && typeof (u as { Id?: unknown }).Id === "string" ? (u as { Id: string }).Id : "?";
    return { key: id, problem: "unexpected container record from podman" };
  }
  const c = item.right;
  const name = c.Names?.[0] ?? c.Id.slice(0, 12);
  const labels = c.Labels ?? {};
  const deployment = labels[LABEL_DEPLOYMENT];
  const service = labels[LABEL_SERVICE];
  const hash = labels[LABEL_SPEC_HASH];
  if (deployment === undefined || !DeploymentName.is(deployment))
    return { key: name, problem: `label ${LABEL_DEPLOYMENT}=${JSON.stringify(deployment ?? "")} is not a valid deployment name; container left alone` };
  if (service === undefined || !isDnsLabel(service))
    return { key: name, problem: `label ${LABEL_SERVICE}=${JSON.stringify(service ?? "")} is not a valid service name; container left alone` };
  if (hash === undefined || hash === "") return { key: name, problem: `label ${LABEL_SPEC_HASH} is missing; container left alone` };
  const services = (labels[LABEL_SERVICES] ?? service).split(",").filter((s) => s !== "").sort(S.Ord.compare);
  return {
    id: c.Id,
    name,
    deployment,
    service,
    specHash: hash,
    services,
    state: c.State ?? "unknown",
    exitCode: c.ExitCode ?? 0,
    startedAt: c.StartedAt !== undefined && c.StartedAt > 0 ? c.StartedAt : 0,
  };
};

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

export const listManaged = async (client: LibpodClient): Promise<ManagedListing> => {
  const res = await client.request("/containers/json", {
    query: { all: true, filters: JSON.stringify({ label: [MANAGED_FILTER] }) },
  });
  if (!res.ok) throw new BackendUnavailableError(`podman at ${client.url}: listing containers failed: ${res.message}`);
  const items: unknown[] = Array.isArray(res.body) ? res.body : [];
  const containers: ManagedContainer[] = [];
  const problems: ReadProblem[] = [];
  for (const u of items) {
    const c = decodeListItem(u);
    if ("problem" in c) problems.push({ source: SOURCE, key: c.key, message: c.problem });
    else containers.push(c);
  }
  containers.sort(compareContainers);
  problems.sort(OrdReadProblemByKey.compare);
  return { containers, problems };
};

/** Restart policy, restart count and podman's last error of one container; undefined when it is gone. */
export const inspectDetail = async (client: LibpodClient, id: string): Promise<ContainerDetail | undefined> => {
  const res = await client.request(`/containers/${encodeURIComponent(id)}/json`);
  if (!res.ok) return undefined;
  const d = Inspect.decode(res.body);
  if (isLeft(d)) return undefined;
  return {
    restartPolicy: d.right.HostConfig?.RestartPolicy?.Name ?? "",
    restartCount: d.right.RestartCount ?? 0,
    error: d.right.State?.Error ?? "",
  };
};
