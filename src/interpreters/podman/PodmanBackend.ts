/**
 * `podmanBackend(options)`: an `Interpreter` for one device, this host, so a
 * World can be applied to the local podman with no control plane at all
 * (`fleet apply --backend podman FILE`).
 *
 * Mapping to Reality:
 * - devices: this host only (id, labels, arch from the options), with a
 *   heartbeat at read time (it is online by construction);
 * - desired: one entry per deployment that has managed containers; its spec
 *   hash is the containers' label when every service the label set names
 *   has a container with that one hash, else a hash that never matches
 *   (`incomplete:…`, `mixed:…`) so the diff plans an Update that repairs it;
 *   its fingerprint is a digest of the hash and the sorted container ids
 *   (any replacement changes it; a restart keeps the id, so not);
 * - observed: the status rules of `DeploymentPhase.ts` over the same
 *   containers, at read time.
 *
 * `apply` re-reads, refuses a stale plan as a whole, then runs each action
 * as a container plan scoped to its deployment. An action that fails is
 * rolled back (its deployment's new containers removed) so a failed Create
 * leaves nothing and the next plan retries it; an action for another device
 * id fails with a clear error. Images are checked before anything is
 * removed, so an Update to an image that cannot be had leaves the old
 * containers running.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { createHash } from "node:crypto";
import type { Device } from "../../algebra/Device.ts";
import type { DeploymentName } from "../../algebra/Name.ts";
import { stalePreconditions } from "../../diff/Apply.ts";
import type { Action, Plan } from "../../diff/Plan.ts";
import { reality, type DesiredEntry, type Reality } from "../../diff/Reality.ts";
import type { ActionOutcome, ApplyOptions, ApplyResult, Interpreter, ReadProblem, ReadResult } from "../Interpreter.ts";
import { planContainers } from "./ContainerPlan.ts";
import { containerName } from "./ContainerSpec.ts";
import { listManaged, type ManagedContainer } from "./Containers.ts";
import type { DeploymentView } from "./DeploymentPhase.ts";
import { hostDevice } from "./HostDevice.ts";
import { connectPodman, type PodmanServiceOptions } from "./PodmanService.ts";
import { reconciler, type ReconcilerOptions } from "./Reconciler.ts";
import { serial } from "./Serial.ts";

export interface PodmanOptions extends PodmanServiceOptions, ReconcilerOptions {
  /** Default: the host name, made a valid DNS label. */
  readonly deviceId?: string;
  readonly labels?: Record<string, string>;
  /** Default: from `os.arch()`, mapped to `uname -m` names (x86_64, aarch64). */
  readonly arch?: string;
}

export interface PodmanBackend extends Interpreter {
  /** This host as the device the backend reports. */
  readonly device: Device;
}

// -------------------------------------------------------------------------------------
// reading (pure, from a listing)
// -------------------------------------------------------------------------------------

interface Group {
  readonly name: DeploymentName;
  readonly containers: ReadonlyArray<ManagedContainer>;
}

const groups = (containers: ReadonlyArray<ManagedContainer>): ReadonlyArray<Group> => {
  const m = new Map<DeploymentName, ManagedContainer[]>();
  for (const c of containers) {
    const list = m.get(c.deployment);
    if (list === undefined) m.set(c.deployment, [c]);
    else list.push(c);
  }
  return [...m.entries()].sort(Ord.contramap(([k]: readonly [string, unknown]) => k)(S.Ord).compare).map(([name, cs]) => ({ name, containers: cs }));
};

/** The spec hash a group stands for, or one that never matches a real spec when it is not whole. */
export const groupSpecHash = (g: Group): string => {
  const hashes = [...new Set(g.containers.map((c) => c.specHash))].sort(S.Ord.compare);
  if (hashes.length > 1) return `mixed:${hashes.join(",")}`;
  const hash = hashes[0] as string;
  const canonical = g.containers.filter((c) => c.name === containerName(c.deployment, c.service));
  const named = new Set(canonical.flatMap((c) => c.services));
  const present = new Set(canonical.map((c) => c.service));
  const whole = canonical.length === g.containers.length && [...named].every((s) => present.has(s));
  return whole ? hash : `incomplete:${hash}`;
};

export const groupFingerprint = (g: Group): string =>
  createHash("sha256")
    .update([...g.containers.map((c) => c.specHash)].sort(S.Ord.compare).join(","))
    .update("\n")
    .update([...g.containers.map((c) => c.id)].sort(S.Ord.compare).join(","))
    .digest("hex")
    .slice(0, 24);

const viewOf = (g: Group): DeploymentView => {
  const first = g.containers[0] as ManagedContainer;
  return { name: g.name, specHash: first.specHash, services: first.services };
};

// -------------------------------------------------------------------------------------
// constructor
// -------------------------------------------------------------------------------------

export const podmanBackend = async (options: PodmanOptions = {}): Promise<PodmanBackend> => {
  const connection = await connectPodman(options);
  let device: Device;
  try {
    device = hostDevice({ ...options, podmanVersion: connection.version });
  } catch (e) {
    await connection.close();
    throw e;
  }
  const client = connection.client;
  const engine = reconciler(client, options);
  const once = serial();

  const snapshot = async (): Promise<{ readonly reality: Reality; readonly problems: ReadonlyArray<ReadProblem>; readonly containers: ReadonlyArray<ManagedContainer> }> => {
    const now = new Date();
    const listing = await listManaged(client);
    const gs = groups(listing.containers);
    const desired: DesiredEntry[] = gs.map((g) => ({
      device: device.id,
      deployment: g.name,
      specHash: groupSpecHash(g),
      fingerprint: groupFingerprint(g),
    }));
    const statuses = await engine.statuses(gs.map(viewOf), listing.containers);
    return {
      reality: reality({
        devices: [{ device, lastHeartbeat: now }],
        desired,
        observed: statuses.map((s) => ({
          device: device.id,
          deployment: s.deployment,
          phase: s.phase,
          specHash: s.specHash,
          ...(s.error !== undefined ? { error: s.error } : {}),
          at: now,
        })),
      }),
      problems: listing.problems,
      containers: listing.containers,
    };
  };

  const fingerprintOf = async (name: DeploymentName): Promise<string | undefined> => {
    const listing = await listManaged(client);
    const mine = listing.containers.filter((c) => c.deployment === name);
    return mine.length === 0 ? undefined : groupFingerprint({ name, containers: mine });
  };

  const runAction = async (action: Action, containers: ReadonlyArray<ManagedContainer>): Promise<ActionOutcome> => {
    if (action.device !== device.id)
      return {
        _tag: "Failed",
        action,
        error: `device "${action.device}" is not this host: the podman backend runs deployments on "${device.id}" only`,
      };
    const mine = containers.filter((c) => c.deployment === action.deployment);
    const desired = action._tag === "Delete" ? [] : [action.spec];
    const outcomes = await engine.run(planContainers(desired, mine));
    const errors = [...new Set(outcomes.flatMap((o) => (o.error !== undefined ? [o.error] : [])))];
    if (errors.length === 0) {
      if (action._tag === "Delete") return { _tag: "Applied", action };
      const fingerprint = await fingerprintOf(action.deployment);
      return fingerprint === undefined
        ? { _tag: "Failed", action, error: "no container of the deployment is left after applying it" }
        : { _tag: "Applied", action, fingerprint };
    }
    const blockedBeforeChange = outcomes.every((o) => o.blocked === true);
    if (action._tag !== "Delete" && !blockedBeforeChange) {
      // Roll back: a failed Create or Update leaves no half-made deployment behind.
      const left = (await listManaged(client)).containers.filter((c) => c.deployment === action.deployment);
      await engine.run(planContainers([], left));
    }
    return { _tag: "Failed", action, error: errors.join("; ") };
  };

  return {
    name: "podman",
    device,
    read: () =>
      once(async (): Promise<ReadResult> => {
        const s = await snapshot();
        return { reality: s.reality, problems: s.problems };
      }),
    apply: (plan: Pick<Plan, "actions">, options?: ApplyOptions) =>
      once(async (): Promise<ApplyResult> => {
        const s = await snapshot();
        const stale = stalePreconditions(s.reality, plan);
        if (stale.length > 0) return { _tag: "Stale", stale };
        const outcomes: ActionOutcome[] = [];
        let failed = 0;
        for (const action of plan.actions) {
          const o = await runAction(action, s.containers);
          if (o._tag === "Failed") failed++;
          outcomes.push(o);
          options?.onProgress?.({ done: outcomes.length, total: plan.actions.length, failed });
        }
        return { _tag: "Completed", outcomes };
      }),
    close: () => once(() => connection.close()),
  };
};
