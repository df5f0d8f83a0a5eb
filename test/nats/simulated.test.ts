/**
 * The simulated runtime: a Runtime like any other (level-triggered,
 * idempotent), whose failures are decided by its seed alone.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { simulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { drawFor, hash32, mulberry32 } from "../../src/interpreters/simulated/Prng.ts";

const dep = (name: string, tag = "1") => deployment(name, podman({ services: [{ name: "svc", image: `registry.local/${name}:${tag}` }] }));
const names = ["a", "b", "c", "d", "e", "f", "g", "h"];
const noWait = async (): Promise<void> => {};

describe("simulated runtime", () => {
  it("runs exactly the desired set, and changing nothing starts nothing", async () => {
    const rt = simulatedRuntime({ name: "d1", sleep: noWait });
    const s1 = await rt.reconcile([dep("web"), dep("db")]);
    expect(s1.map((s) => [s.deployment, s.phase, s.specHash])).toEqual([
      ["db", "Running", specHash(dep("db"))],
      ["web", "Running", specHash(dep("web"))],
    ]);
    expect(rt.starts()).toBe(2);
    await rt.reconcile([dep("web"), dep("db")]);
    expect(rt.starts()).toBe(2);
    await rt.reconcile([dep("web", "2")]);
    expect(rt.starts()).toBe(3);
    expect([...rt.running()]).toEqual([["web", specHash(dep("web", "2"))]]);
    expect((await rt.status()).map((s) => s.deployment)).toEqual(["web"]);
  });

  it("fail rate 0 never fails, 1 always fails with a message", async () => {
    const ok = await simulatedRuntime({ failRate: 0, sleep: noWait }).reconcile(names.map((n) => dep(n)));
    expect(ok.every((s) => s.phase === "Running")).toBe(true);
    const bad = await simulatedRuntime({ name: "d9", failRate: 1, seed: 4, sleep: noWait }).reconcile(names.map((n) => dep(n)));
    expect(bad.every((s) => s.phase === "Failed" && /simulated failure starting .* on d9 \(seed 4\)/.test(s.error ?? ""))).toBe(true);
  });

  it("the same seed fails the same starts, whatever the order of the calls", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.shuffledSubarray(names, { minLength: 1 }), async (seed, order) => {
        const failed = async (ds: string[]) =>
          (await simulatedRuntime({ name: "dev", failRate: 0.5, seed, sleep: noWait }).reconcile(ds.map((n) => dep(n))))
            .filter((s) => s.phase === "Failed")
            .map((s) => s.deployment);
        const sorted = [...order].sort();
        expect(await failed(order)).toEqual(await failed(sorted));
        const one = await Promise.all(order.map(async (n) => (await failed([n])).length));
        expect(order.filter((_, i) => one[i] === 1).sort()).toEqual(await failed(sorted));
      }),
      { numRuns: 30 },
    );
  });

  const checked = (name: string, tag = "1") =>
    deployment(name, podman({ services: [{ name: "svc", image: `registry.local/${name}:${tag}`, healthcheck: { command: ["true"] } }] }));

  it("health: a spec without a check reports none; with one, the same (device, spec) pairs are unhealthy whatever the order, about the rate given", async () => {
    const [plain] = await simulatedRuntime({ name: "d1", unhealthyRate: 1, sleep: noWait }).reconcile([dep("web")]);
    expect(plain !== undefined && "health" in plain).toBe(false);
    const all = await simulatedRuntime({ name: "d1", unhealthyRate: 1, sleep: noWait }).reconcile([checked("web")]);
    expect(all.map((x) => x.health)).toEqual(["unhealthy"]);
    const none = await simulatedRuntime({ name: "d1", unhealthyRate: 0, sleep: noWait }).reconcile([checked("web")]);
    expect(none.map((x) => x.health)).toEqual(["healthy"]);
    const verdicts = async (ids: ReadonlyArray<string>) =>
      Promise.all(ids.map(async (id) => (await simulatedRuntime({ name: id, unhealthyRate: 0.2, seed: 9, sleep: noWait }).reconcile([checked("web")]))[0]?.health));
    const ids = Array.from({ length: 2000 }, (_, i) => `sim-${i}`);
    const a = await verdicts(ids);
    expect(await verdicts([...ids].reverse())).toEqual([...a].reverse());
    const share = a.filter((h) => h === "unhealthy").length / ids.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
  });

  it("failNewSpecs: the first spec of a deployment keeps working, every other fails (only those with the image given, if any); a rollback starts fine", async () => {
    const rt = simulatedRuntime({ name: "canary-1", failNewSpecs: {}, sleep: noWait });
    expect((await rt.reconcile([dep("web", "1")]))[0]?.phase).toBe("Running");
    const bad = (await rt.reconcile([dep("web", "2")]))[0];
    expect([bad?.phase, bad?.error]).toEqual(["Failed", "simulated failure: canary-1 fails new specs of web"]);
    expect((await rt.reconcile([dep("web", "1")]))[0]?.phase).toBe("Running");
    const only = simulatedRuntime({ name: "canary-2", failNewSpecs: { image: ":3" }, sleep: noWait });
    await only.reconcile([dep("web", "1")]);
    expect((await only.reconcile([dep("web", "2")]))[0]?.phase).toBe("Running");
    expect((await only.reconcile([dep("web", "3")]))[0]?.phase).toBe("Failed");
  });

  it("a failed spec stays failed until the spec changes", async () => {
    const rt = simulatedRuntime({ name: "x", failRate: 1, sleep: noWait });
    await rt.reconcile([dep("web")]);
    expect((await rt.reconcile([dep("web")]))[0]?.phase).toBe("Failed");
    expect(rt.starts()).toBe(1);
  });

  it("takes its latency (with seeded jitter) per start", async () => {
    const waits: number[] = [];
    const rt = simulatedRuntime({ latencyMs: 100, jitter: 0.5, seed: 9, sleep: async (ms) => void waits.push(ms) });
    await rt.reconcile([dep("a"), dep("b"), dep("c")]);
    expect(waits).toHaveLength(3);
    expect(waits.every((ms) => ms >= 50 && ms <= 150)).toBe(true);
    const again: number[] = [];
    await simulatedRuntime({ latencyMs: 100, jitter: 0.5, seed: 9, sleep: async (ms) => void again.push(ms) }).reconcile([dep("a"), dep("b"), dep("c")]);
    expect(again).toEqual(waits);
  });

  it("its generator is seeded and uniform enough", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(hash32("")).toBe(0x811c9dc5);
    expect(drawFor(1, "x")).toBe(drawFor(1, "x"));
    expect(drawFor(1, "x")).not.toBe(drawFor(2, "x"));
  });
});
