/**
 * `kube(options)`: the Kubernetes interpreter. The fleet lives in two custom
 * resources of `fleet-algebra.dev/v1alpha1` (see Crds.ts and
 * docs/kubernetes.md): one `Device` per device (its registration, its
 * desired entries, its observed state) and one `FleetDeployment` per
 * deployment of the World (its selector, spec and rollout status).
 *
 * Contract (the Interpreter contract; test/kube runs the conformance suite
 * against a real kube-apiserver):
 * - `read` lists the Device objects; a bad object is a `ReadProblem` and its
 *   device is damaged; fingerprints are per entry (DeviceObject.ts);
 * - `apply` installs or upgrades the CRDs on first use, refuses a stale plan
 *   as a whole, writes each device's entries by server-side apply under the
 *   field manager `fleet-algebra`, conditional on the resourceVersion read,
 *   reports field conflicts with other managers per action (taking the
 *   fields only with `forceConflicts`), then refreshes FleetDeployment status;
 * - `syncStatus(world)` publishes the World's FleetDeployments with status;
 * - no cluster configured, or one that cannot be reached, is a
 *   `BackendUnavailableError` from the factory, never a silent fallback.
 */
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../../algebra/Device.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import type { ObservedState } from "../../diff/Reality.ts";
import type { Plan } from "../../diff/Plan.ts";
import type { World } from "../../world/World.ts";
import * as E from "fp-ts/lib/Either.js";
import { BackendUnavailableError, type ApplyOptions, type ApplyResult, type Interpreter, type ReadResult } from "../Interpreter.ts";
import * as Agent from "./Agent.ts";
import { formatFailure, makeApi } from "./Api.ts";
import { applyToDevices } from "./ApplyPlan.ts";
import { resolveCluster } from "./Cluster.ts";
import { ensureCrds, installCrds } from "./Install.ts";
import { readDevices } from "./Read.ts";
import { syncDeviceLabels } from "./DeviceLabels.ts";
import { refreshStatus, syncFleetDeployments, type StatusSyncResult } from "./StatusSync.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";

export { resolveCluster, type ResolvedCluster, type ClusterOptions } from "./Cluster.ts";
export { crds, GROUP, VERSION, API_VERSION } from "./Crds.ts";
export { CONTROL_PLANE, AGENT } from "./FieldOwners.ts";
export { AgentWriteError } from "./Agent.ts";
export type { StatusSyncResult } from "./StatusSync.ts";

export interface KubeOptions {
  /** A kubeconfig file; default as kubectl: `KUBECONFIG`, `~/.kube/config`, in-cluster. */
  readonly kubeconfig?: string;
  /** A context of the kubeconfig; default its current context. */
  readonly context?: string;
  /** Default: the context's namespace, else `default`. */
  readonly namespace?: string;
  /** Take fields other field managers own instead of reporting a conflict. */
  readonly forceConflicts?: boolean;
}

export interface KubeInterpreter extends Interpreter {
  /** `https://host:port` of the API server. */
  readonly server: string;
  readonly context: string;
  readonly namespace: string;
  /** Installs or upgrades the CRDs and waits until they are Established; returns their names. */
  installCrds(): Promise<ReadonlyArray<string>>;
  /** Publishes one FleetDeployment per deployment of the World, with its status; deletes those it no longer has. */
  syncStatus(world: World, now?: Date): Promise<StatusSyncResult>;
  /** What the status refresh after the last apply could not do (empty when it all went through). */
  statusProblems(): ReadonlyArray<string>;
  /** Device side: creates or updates Device objects as agents do, with a heartbeat at `at`. */
  register(devices: ReadonlyArray<Device>, at: Date): Promise<void>;
  /** Device side: a heartbeat only. */
  heartbeat(ids: ReadonlyArray<DeviceId>, at: Date): Promise<void>;
  /** Device side: observed state, merged by deployment name into each Device's status. */
  report(states: ReadonlyArray<ObservedState>): Promise<void>;
}

/** Devices written at once. */
const CONCURRENCY = 8;

/** A plan with a staged rollout's ledger or priors, which this backend does not keep yet; nothing is written. */
export class StagedRolloutUnsupportedError extends BackendUnavailableError {
  constructor() {
    super(
      "Kubernetes: this backend does not keep staged-rollout ledgers yet; a plan with a Waves rollout step cannot be applied to it (nothing was written). " +
        "Use the Immediate policy with --backend kube, or run staged rollouts on the nats or local backend",
    );
  }
}

export const kube = async (options: KubeOptions): Promise<KubeInterpreter> => {
  const cluster = resolveCluster(options);
  const api = makeApi(cluster.config, cluster.server);
  const reachable = await api.version();
  if (E.isLeft(reachable)) throw new BackendUnavailableError(formatFailure(reachable.left));

  const namespace = cluster.namespace;
  const forceConflicts = options.forceConflicts ?? false;
  const ctx = { api, namespace, forceConflicts, concurrency: CONCURRENCY };
  let crdsChecked = false;
  const ensure = async (): Promise<void> => {
    if (crdsChecked) return;
    await ensureCrds(api);
    crdsChecked = true;
  };
  let lastStatusProblems: ReadonlyArray<string> = [];

  const syncStatus = async (world: World, now: Date = new Date()): Promise<StatusSyncResult> => {
    await ensure();
    const snapshot = await readDevices(api, namespace);
    // Labels first: once a FleetDeployment shows its count, kubectl -l on its selector agrees with it.
    const labelProblems = await syncDeviceLabels(ctx, world, snapshot);
    const r = await syncFleetDeployments(ctx, world, snapshot.reality, now);
    return labelProblems.length === 0 ? r : { ...r, problems: [...labelProblems, ...r.problems].sort(S.Ord.compare) };
  };

  return {
    name: "kube",
    server: cluster.server,
    context: cluster.context,
    namespace,
    read: async (): Promise<ReadResult> => {
      const s = await readDevices(api, namespace);
      return { reality: s.reality, problems: s.problems };
    },
    apply: async (plan: Pick<Plan, "actions" | "ledger">, opts?: ApplyOptions): Promise<ApplyResult> => {
      // No place for rollout ledgers here yet: a staged rollout's step is refused whole, never applied without its ledger.
      if ((plan.ledger?.length ?? 0) > 0 || plan.actions.some((a) => a._tag !== "Delete" && a.prior !== undefined)) throw new StagedRolloutUnsupportedError();
      if (plan.actions.length === 0) return { _tag: "Completed", outcomes: [] };
      await ensure();
      const result = await applyToDevices(ctx, await readDevices(api, namespace), plan, opts);
      if (result._tag === "Completed" && result.outcomes.some((o) => o._tag === "Applied")) {
        // Status is advisory: a failed refresh never fails an apply whose writes went through.
        try {
          lastStatusProblems = (await refreshStatus(ctx, async () => (await readDevices(api, namespace)).reality, new Date())).problems;
        } catch (e) {
          lastStatusProblems = [errorMessage(e)];
        }
      }
      return result;
    },
    close: async () => {},
    installCrds: async () => {
      const names = await installCrds(api);
      crdsChecked = true;
      return names;
    },
    syncStatus,
    publishWorld: async (world, now) => (await syncStatus(world, now)).problems,
    statusProblems: () => lastStatusProblems,
    register: async (devices, at) => {
      await ensure();
      await Agent.register(ctx, devices, at);
    },
    heartbeat: (ids, at) => Agent.heartbeat(ctx, ids, at),
    report: (states) => Agent.report(ctx, states),
  };
};
