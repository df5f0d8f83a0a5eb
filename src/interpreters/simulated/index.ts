/**
 * fleet-algebra/simulated: a `Runtime` that pretends to run deployments, for
 * demos, tests and benchmarks of the device side (`fleet sim`).
 *
 * Starting a deployment (a spec it does not run yet) takes `latencyMs`
 * (± `jitter`), then succeeds or fails. Whether it fails is drawn from a
 * seeded source keyed by (seed, device, deployment, spec hash), so a given
 * seed fails the same starts whatever the timing or call order, and a failed
 * spec stays failed until the spec changes. No unseeded randomness.
 *
 * Health: a running spec that declares a health check reports `unhealthy`
 * for a fraction `unhealthyRate` of (device, spec hash) pairs, drawn the same
 * way (seed, device, spec hash), and `healthy` for the rest; a spec without a
 * check reports no health, as podman's runtime does.
 *
 * `failNewSpecs`: the device fails every start of a spec other than the first
 * it ran for that deployment (optionally only specs with an image containing
 * `image`): a bad new version, while the old one keeps working (a rollback to
 * it starts fine).
 *
 * `reconcile` is level-triggered like every Runtime: deployments not in the
 * desired set are stopped, unchanged ones keep their status.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { hasHealthCheck, specHash, type Deployment } from "../../algebra/Deployment.ts";
import type { DeploymentName } from "../../algebra/Name.ts";
import type { DeploymentStatus, Runtime } from "../Runtime.ts";
import { drawFor } from "./Prng.ts";

export interface SimulatedRuntimeOptions {
  /** Names this runtime (the device id), part of what the failure draw is keyed by. */
  readonly name?: string;
  /** Time to start one deployment, ms. Default 20. */
  readonly latencyMs?: number;
  /** Relative spread of the start time, 0..1 (seeded). Default 0. */
  readonly jitter?: number;
  /** Probability that a start fails, 0..1. Default 0. */
  readonly failRate?: number;
  /** Fraction of (device, spec) pairs whose health check reports unhealthy, 0..1. Default 0. */
  readonly unhealthyRate?: number;
  /** Fail every start of a spec other than the first run per deployment (if `image` is given, only specs using an image containing it). */
  readonly failNewSpecs?: { readonly image?: string };
  readonly seed?: number;
  /** Replaces the timer (tests). */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface SimulatedRuntime extends Runtime {
  /** What it runs now: deployment name to spec hash (Running or Failed). */
  running(): ReadonlyMap<DeploymentName, string>;
  /** How many starts it has performed (each new spec counts once). */
  starts(): number;
}

const defaultSleep = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms)));

const byName = Ord.contramap((s: DeploymentStatus) => s.deployment)(S.Ord).compare;

export const simulatedRuntime = (options: SimulatedRuntimeOptions = {}): SimulatedRuntime => {
  const name = options.name ?? "simulated";
  const latency = Math.max(0, options.latencyMs ?? 20);
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0));
  const failRate = Math.min(1, Math.max(0, options.failRate ?? 0));
  const unhealthyRate = Math.min(1, Math.max(0, options.unhealthyRate ?? 0));
  const failNew = options.failNewSpecs;
  /** The first spec started per deployment (what `failNewSpecs` keeps working). */
  const firstRun = new Map<DeploymentName, string>();
  const seed = options.seed ?? 0;
  const sleep = options.sleep ?? defaultSleep;
  const current = new Map<DeploymentName, DeploymentStatus>();
  let startCount = 0;
  let closed = false;
  // Serialises reconciles: the agent calls one at a time, but a Runtime must not rely on it.
  let queue: Promise<unknown> = Promise.resolve();

  const start = async (d: Deployment, hash: string): Promise<DeploymentStatus> => {
    startCount++;
    const key = `${name}/${d.name}/${hash}`;
    const spread = jitter === 0 ? 0 : (drawFor(seed, `latency:${key}`) * 2 - 1) * jitter;
    await sleep(Math.round(latency * (1 + spread)));
    const first = firstRun.get(d.name) ?? hash;
    firstRun.set(d.name, first);
    if (failNew !== undefined && hash !== first && (failNew.image === undefined || d.score.services.some((s) => s.image.includes(failNew.image as string))))
      return { deployment: d.name, phase: "Failed", specHash: hash, error: `simulated failure: ${name} fails new specs of ${d.name}` };
    if (drawFor(seed, `fail:${key}`) < failRate)
      return { deployment: d.name, phase: "Failed", specHash: hash, error: `simulated failure starting ${d.name} on ${name} (seed ${seed})` };
    if (!hasHealthCheck(d)) return { deployment: d.name, phase: "Running", specHash: hash };
    // Keyed by device and spec hash only (the hash names the deployment): the same pairs are unhealthy whatever the order.
    return { deployment: d.name, phase: "Running", specHash: hash, health: drawFor(seed, `unhealthy:${name}/${hash}`) < unhealthyRate ? "unhealthy" : "healthy" };
  };

  const reconcileNow = async (desired: ReadonlyArray<Deployment>): Promise<ReadonlyArray<DeploymentStatus>> => {
    if (closed) throw new Error("simulated runtime is closed");
    const wanted = new Map(desired.map((d) => [d.name, d] as const));
    for (const n of [...current.keys()]) if (!wanted.has(n)) current.delete(n);
    const statuses = await Promise.all(
      [...wanted.values()].map(async (d) => {
        const hash = specHash(d);
        const have = current.get(d.name);
        if (have !== undefined && have.specHash === hash) return have;
        const s = await start(d, hash);
        current.set(d.name, s);
        return s;
      }),
    );
    return statuses.sort(byName);
  };

  return {
    name: `simulated:${name}`,
    reconcile: (desired) => {
      const run = queue.then(() => reconcileNow(desired));
      queue = run.catch(() => undefined);
      return run;
    },
    status: async () => [...current.values()].sort(byName),
    close: async () => {
      closed = true;
    },
    running: () => new Map([...current].map(([n, s]) => [n, s.specHash] as const)),
    starts: () => startCount,
  };
};
