/**
 * The engine both podman entry points share: carries out container steps
 * against libpod and derives deployment statuses from what podman reports.
 *
 * Contract:
 * - removals run first (they free names and ports), up to four at a time
 *   since each may wait out a stop timeout; creations and starts then run
 *   one at a time in plan order; outcomes come back in plan order; one step
 *   failing never stops the others;
 * - podman's error for a service is remembered per (deployment, spec hash,
 *   service) until that service next succeeds or the spec is no longer
 *   desired, so a status read later still says why it failed;
 * - a podman that cannot be reached throws `BackendUnavailableError`; every
 *   other podman failure is a value (a step's error).
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as t from "io-ts";
import { isRight } from "fp-ts/lib/Either.js";
import type { Deployment, Service } from "../../algebra/Deployment.ts";
import { specHash } from "../../algebra/Deployment.ts";
import type { Health } from "../../diff/Reality.ts";
import type { DeploymentStatus } from "../Runtime.ts";
import { containerName, createBody } from "./ContainerSpec.ts";
import { ENDED, type ContainerStep } from "./ContainerPlan.ts";
import { inspectDetail, type ContainerDetail, type ManagedContainer } from "./Containers.ts";
import { deploymentStatus, type DeploymentView, type ServiceObservation } from "./DeploymentPhase.ts";
import type { LibpodClient } from "./LibpodClient.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** `missing`: pull an image that is not present (podman's default); `never`: fail instead. */
export type PullPolicy = "missing" | "never";

export interface ReconcilerOptions {
  /** Seconds between SIGTERM and SIGKILL when a container is stopped. Default 10. */
  readonly stopTimeoutSeconds?: number;
  readonly pull?: PullPolicy;
  /** Idle timeout of an image pull. Default 10 minutes. */
  readonly pullTimeoutMs?: number;
  /**
   * After a failed pull, the same image is not pulled again for this long (the
   * failure is reported meanwhile), so a level-triggered agent does not spend
   * every reconcile waiting on an unreachable registry. Default 60 s.
   */
  readonly pullRetryAfterMs?: number;
}

export interface StepOutcome {
  readonly step: ContainerStep;
  /** Absent when the step succeeded. */
  readonly error?: string;
  /** The step was not tried: an image its deployment needs could not be had. */
  readonly blocked?: true;
}

export interface Reconciler {
  run(steps: ReadonlyArray<ContainerStep>): Promise<ReadonlyArray<StepOutcome>>;
  /** Forgets remembered errors of specs that are no longer desired. */
  retain(desired: ReadonlyArray<Deployment>): void;
  /** `health`: podman's verdict per container id, for the containers whose health checks run. */
  statuses(
    views: ReadonlyArray<DeploymentView>,
    containers: ReadonlyArray<ManagedContainer>,
    health?: ReadonlyMap<string, Health>,
  ): Promise<ReadonlyArray<DeploymentStatus>>;
}

// -------------------------------------------------------------------------------------
// views
// -------------------------------------------------------------------------------------

export const viewOfSpec = (d: Deployment): DeploymentView => ({
  name: d.name,
  specHash: specHash(d),
  services: d.score.services.map((s) => s.name).sort(S.Ord.compare),
  restart: Object.fromEntries(d.score.services.map((s) => [s.name, s.restart])),
});

// -------------------------------------------------------------------------------------
// constructor
// -------------------------------------------------------------------------------------

const REMOVALS_AT_ONCE = 4;

const errorKey = (deployment: string, hash: string, service: string): string => `${deployment}\u0000${hash}\u0000${service}`;

// Wire shapes of libpod answers we read (permissive: other fields are ignored).
const PullLine = t.type({ error: t.string });
const Created = t.type({ Id: t.string });

/** The first `error` among the JSON documents of a pull's streamed answer. */
const pullError = (body: unknown): string | undefined => {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  for (const line of text.split(/\n/)) {
    const s = line.trim();
    if (s === "") continue;
    try {
      const doc = PullLine.decode(JSON.parse(s));
      if (isRight(doc) && doc.right.error !== "") return doc.right.error;
    } catch {
      // progress lines that are not JSON: ignore
    }
  }
  return undefined;
};

export const reconciler = (client: LibpodClient, options: ReconcilerOptions = {}): Reconciler => {
  const stopTimeout = options.stopTimeoutSeconds ?? 10;
  const pull = options.pull ?? "missing";
  const errors = new Map<string, string>();
  const failedPulls = new Map<string, { readonly error: string; readonly at: number }>();
  const retryAfter = options.pullRetryAfterMs ?? 60_000;

  const ensureImage = async (image: string): Promise<string | undefined> => {
    const exists = await client.request(`/images/${encodeURIComponent(image)}/exists`);
    if (exists.ok) return undefined;
    if (exists.status !== 404) return `image ${JSON.stringify(image)}: ${exists.message}`;
    if (pull === "never") return `image ${JSON.stringify(image)} not found (pull policy "never")`;
    const failed = failedPulls.get(image);
    if (failed !== undefined && Date.now() - failed.at < retryAfter) return failed.error;
    const res = await client.request("/images/pull", {
      method: "POST",
      query: { reference: image, policy: "missing", quiet: false },
      timeoutMs: options.pullTimeoutMs ?? 600_000,
    });
    const err = res.ok ? pullError(res.body) : res.message;
    if (err === undefined) {
      failedPulls.delete(image);
      return undefined;
    }
    const error = `image ${JSON.stringify(image)} not found locally and could not be pulled: ${err}`;
    failedPulls.set(image, { error, at: Date.now() });
    return error;
  };

  const start = async (id: string): Promise<string | undefined> => {
    const res = await client.request(`/containers/${encodeURIComponent(id)}/start`, { method: "POST" });
    return res.ok ? undefined : res.message;
  };

  const create = async (d: Deployment, s: Service): Promise<string | undefined> => {
    const res = await client.request("/containers/create", { method: "POST", body: createBody(d, s, stopTimeout) });
    if (!res.ok) return res.message;
    const created = Created.decode(res.body);
    if (!isRight(created)) return "podman created the container but did not say its id";
    return start(created.right.Id);
  };

  const remove = async (c: ManagedContainer): Promise<string | undefined> => {
    const id = encodeURIComponent(c.id);
    // A stop first, so SIGTERM gets its grace period (a forced removal of a running container kills at once).
    if (c.state === "running" || c.state === "paused") await client.request(`/containers/${id}/stop`, { method: "POST", query: { timeout: stopTimeout }, timeoutMs: (stopTimeout + 60) * 1000 });
    const res = await client.request(`/containers/${id}`, { method: "DELETE", query: { force: true, v: true }, timeoutMs: (stopTimeout + 60) * 1000 });
    return res.ok || res.status === 404 ? undefined : `removing container ${c.name}: ${res.message}`;
  };

  const runStep = async (step: ContainerStep): Promise<string | undefined> => {
    switch (step._tag) {
      case "Remove":
        return remove(step.container);
      case "Create":
        return create(step.deployment, step.service);
      case "Start":
        return start(step.container.id);
    }
  };

  return {
    run: async (steps) => {
      // Images first: a deployment whose new images cannot be had keeps its old containers
      // (no removal, no creation) instead of going down for a spec that cannot run.
      const blocked = new Map<string, string>(); // deployment -> error
      const checked = new Map<string, string | undefined>(); // image -> error
      for (const step of steps) {
        if (step._tag !== "Create") continue;
        const image = step.service.image;
        if (!checked.has(image)) checked.set(image, await ensureImage(image));
        const error = checked.get(image);
        const key = errorKey(step.deployment.name, specHash(step.deployment), step.service.name);
        if (error === undefined) continue;
        errors.set(key, error);
        if (!blocked.has(step.deployment.name)) blocked.set(step.deployment.name, `service ${step.service.name}: ${error}`);
      }
      const outcome = async (step: ContainerStep): Promise<StepOutcome> => {
        const deployment = step._tag === "Remove" ? (step.reason === "Unassigned" ? undefined : step.container.deployment) : step.deployment.name;
        const block = deployment !== undefined ? blocked.get(deployment) : undefined;
        if (block !== undefined) return { step, error: block, blocked: true };
        const error = await runStep(step);
        if (step._tag !== "Remove") {
          const key = errorKey(step.deployment.name, specHash(step.deployment), step.service.name);
          if (error === undefined) errors.delete(key);
          else errors.set(key, error);
        }
        return error === undefined ? { step } : { step, error };
      };
      // Removals are independent and mostly wait out stop timeouts: a few at a time. Creations
      // and starts go one by one, in plan order, so services start in a defined order.
      const removals = steps.filter((s) => s._tag === "Remove");
      const out: StepOutcome[] = new Array<StepOutcome>(removals.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < removals.length) {
          const i = next++;
          out[i] = await outcome(removals[i] as ContainerStep);
        }
      };
      await Promise.all(Array.from({ length: Math.min(REMOVALS_AT_ONCE, removals.length) }, worker));
      for (const step of steps) if (step._tag !== "Remove") out.push(await outcome(step));
      return out;
    },
    retain: (desired) => {
      const keep = new Set(desired.map((d) => `${d.name}\u0000${specHash(d)}\u0000`));
      for (const k of [...errors.keys()]) if (![...keep].some((p) => k.startsWith(p))) errors.delete(k);
    },
    statuses: async (views, containers, health = new Map()) => {
      // Only containers that are not running need `inspect` (restart policy and count): none in a steady state.
      const details = new Map<string, ContainerDetail>();
      for (const c of containers) {
        if (!ENDED.has(c.state)) continue;
        const d = await inspectDetail(client, c.id);
        if (d !== undefined) details.set(c.id, d);
      }
      const byKey = new Map<string, ManagedContainer>();
      for (const c of containers) {
        const key = errorKey(c.deployment, c.specHash, c.service);
        // A labelled look-alike never shadows the canonically named container.
        if (!byKey.has(key) || c.name === containerName(c.deployment, c.service)) byKey.set(key, c);
      }
      return [...views]
        .sort(Ord.contramap((v: { readonly name: string }) => v.name)(S.Ord).compare)
        .map((v) =>
          deploymentStatus(
            v,
            v.services.map((service): ServiceObservation => {
              const key = errorKey(v.name, v.specHash, service);
              const container = byKey.get(key);
              const detail = container !== undefined ? details.get(container.id) : undefined;
              const error = errors.get(key);
              const verdict = container !== undefined ? health.get(container.id) : undefined;
              return {
                service,
                ...(container !== undefined ? { container } : {}),
                ...(detail !== undefined ? { detail } : {}),
                ...(error !== undefined ? { error } : {}),
                ...(verdict !== undefined ? { health: verdict } : {}),
              };
            }),
          ),
        );
    },
  };
};
