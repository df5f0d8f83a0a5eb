/**
 * Staged rollouts end to end on a real nats-server: `fleet sim` processes
 * (real agents on simulated runtimes) report, `fleet reconcile` plans and
 * applies step by step. Each scenario has its own server.
 *
 * - a 4-wave rollout over 2,000 devices in two sites completes while an
 *   observer (a KV watch on device-state) counts, from the reported states,
 *   the devices of each site not Running: never above the budget;
 * - a failing canary pauses the rollout (exit 1) and no device outside the
 *   first wave is touched;
 * - `onFailure: "rollback"` returns the first wave to the previous spec;
 * - devices taken offline mid-rollout are skipped, and updated once back.
 */
import { jetstream } from "@nats-io/jetstream";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Reality } from "../../src/diff/Reality.ts";
import { BUCKET } from "../../src/interpreters/nats/Buckets.ts";
import { watchKeys, type KeyWatch } from "../../src/interpreters/nats/Watch.ts";
import { decodeDeviceStateValue, parseEntryKey } from "../../src/interpreters/nats/wire.ts";
import { spawnFleet } from "../cli/pipes.ts";
import { BIN, jsonLines, workspace, type Result, type Workspace } from "../cli/support.ts";
import { spawnLive, type LiveProcess } from "../support/processes.ts";
import { useNats, waitForReality } from "./support.ts";

const NT = "--no-typecheck";

/** A fleet file: deployment `web` at `image` on every registered device, with the policy given (TypeScript text), if any. */
const fleetFile = (image: string, policy?: string): string => `
import { all, assign, deployment, podman, rollout, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "${image}" }] })${policy === undefined ? "" : `, { rollout: rollout(${policy}) }`});
export default world({ assignments: [assign(all, web)] });
`;

interface Sim {
  readonly args: ReadonlyArray<string>;
  process: LiveProcess;
}

const sims: Sim[] = [];
const startSim = (ws: Workspace, url: string, args: ReadonlyArray<string>): Sim => {
  const full = ["sim", "--nats", url, "--latency", "20", ...args];
  const sim: Sim = { args: full, process: spawnLive(`fleet sim ${args.join(" ")}`, process.execPath, [BIN, ...full], { cwd: ws.dir, stdio: "ignore" }) };
  sims.push(sim);
  return sim;
};
const restart = (ws: Workspace, sim: Sim): void => {
  sim.process = spawnLive(`fleet sim ${sim.args.join(" ")}`, process.execPath, [BIN, ...sim.args], { cwd: ws.dir, stdio: "ignore" });
};
afterAll(async () => {
  await Promise.all(sims.map((s) => s.process.terminate(5_000)));
});

const webOf = (r: Reality, device: string) => ({ desired: r.desired.get(device)?.get("web" as never)?.specHash, observed: r.observed.get(device)?.get("web" as never) });

/** Every registered device (of `n`) reports web Running at the spec published for it, one spec for all. */
const settledOn = (n: number) => (r: Reality): boolean => {
  if (r.devices.size < n) return false;
  const hashes = new Set<string | undefined>();
  for (const id of r.devices.keys()) {
    const w = webOf(r, id);
    if (w.desired === undefined || w.observed?.phase !== "Running" || w.observed.specHash !== w.desired) return false;
    hashes.add(w.desired);
  }
  return hashes.size === 1;
};

const hashesOf = (r: Reality, ids: Iterable<string>): Map<string | undefined, number> => {
  const m = new Map<string | undefined, number>();
  for (const id of ids) m.set(webOf(r, id).desired, (m.get(webOf(r, id).desired) ?? 0) + 1);
  return m;
};

const nats = (url: string): string[] => ["--backend", "nats", "--nats", url];

const reconcile = (ws: Workspace, url: string, file: string, extra: ReadonlyArray<string> = [], onStdout?: (soFar: string) => void): Promise<Result> =>
  spawnFleet(ws, ["reconcile", NT, ...nats(url), "--json", "--interval", "200ms", ...extra, file], onStdout === undefined ? {} : { onStdout }).result;

const lastRollout = (r: Result): Record<string, unknown> | undefined =>
  [...jsonLines(r.stdout)].reverse().find((l) => Array.isArray(l["rollouts"]) && (l["rollouts"] as unknown[]).length > 0);

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
  await ws.write("v1.ts", fleetFile("httpd:1"));
});
afterAll(async () => {
  await ws.cleanup();
});

describe("a 4-wave rollout over 2,000 devices in two sites", () => {
  const fx = useNats();
  const PER_SITE = 1000;

  it("completes with at most 10 % of each site unavailable at any time, as the devices report it", async () => {
    const url = fx.server.url;
    await ws.write("four.ts", fleetFile("httpd:2", `{ waves: ["1%", "10%", "50%"], maxUnavailable: "10%", groupBy: ["site"] }`));
    startSim(ws, url, ["--devices", String(PER_SITE), "--prefix", "a", "--labels", "site=a", "--seed", "1"]);
    startSim(ws, url, ["--devices", String(PER_SITE), "--prefix", "b", "--labels", "site=b", "--seed", "2"]);
    expect((await waitForReality(fx.fleet, (r) => r.devices.size >= 2 * PER_SITE, 60_000, 250)).devices.size).toBe(2 * PER_SITE);
    const v1 = await ws.fleet(["apply", NT, ...nats(url), "--auto-approve", "v1.ts"]);
    expect(v1.code, v1.stderr).toBe(0);
    const before = await waitForReality(fx.fleet, settledOn(2 * PER_SITE), 60_000, 250);
    expect(settledOn(2 * PER_SITE)(before)).toBe(true);

    // The observer: the latest reported state of web per device; a device not Running is unavailable.
    const down = new Map<string, Set<string>>([["a", new Set()], ["b", new Set()]]);
    const maxDown = new Map<string, number>([["a", 0], ["b", 0]]);
    let reports = 0;
    const watch: KeyWatch = await watchKeys(jetstream(fx.fleet.connection), BUCKET.state, "*.web", {
      entry: (e) => {
        const k = parseEntryKey(e.key);
        if (E.isLeft(k) || e.operation !== "PUT") return;
        const v = decodeDeviceStateValue(e.value);
        if (E.isLeft(v)) return;
        reports++;
        const site = k.right.device.startsWith("a-") ? "a" : "b";
        const set = down.get(site) as Set<string>;
        if (v.right.phase === "Running" && v.right.health !== "unhealthy") set.delete(k.right.device);
        else set.add(k.right.device);
        maxDown.set(site, Math.max(maxDown.get(site) ?? 0, set.size));
      },
      caughtUp: () => undefined,
    });
    const t0 = Date.now();
    const r = await reconcile(ws, url, "four.ts");
    const seconds = (Date.now() - t0) / 1000;
    watch.stop();
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const after = await waitForReality(fx.fleet, settledOn(2 * PER_SITE), 30_000, 250);
    expect(settledOn(2 * PER_SITE)(after)).toBe(true);
    const target = webOf(after, "a-0000").desired;
    expect(target).not.toBe(webOf(before, "a-0000").desired);
    expect(hashesOf(after, after.devices.keys())).toEqual(new Map([[target, 2 * PER_SITE]]));
    // The budget: ceil(10 % of 1,000 online devices) = 100 per site.
    expect(reports).toBeGreaterThanOrEqual(2 * PER_SITE);
    expect(maxDown.get("a")).toBeLessThanOrEqual(100);
    expect(maxDown.get("b")).toBeLessThanOrEqual(100);
    console.log(`4-wave rollout over ${2 * PER_SITE} devices: ${seconds.toFixed(1)} s, ${jsonLines(r.stdout).length} steps; most unavailable at once: a ${maxDown.get("a")}, b ${maxDown.get("b")}`);
    await Promise.all(sims.splice(0).map((s) => s.process.terminate(5_000)));
  }, 240_000);
});
