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
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
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

const WEB = "web" as DeploymentName;
const webOf = (r: Reality, device: string) => ({
  desired: r.desired.get(device as DeviceId)?.get(WEB)?.specHash,
  observed: r.observed.get(device as DeviceId)?.get(WEB),
});

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
    const rollouts = jsonLines(r.stdout).flatMap((l) => (Array.isArray(l["rollouts"]) ? (l["rollouts"] as Array<{ state: string; waves: unknown[] }>) : []));
    expect(rollouts.at(-1)?.state).toBe("Complete");
    expect(rollouts.at(-1)?.waves).toHaveLength(4);
    expect(reports).toBeGreaterThanOrEqual(2 * PER_SITE);
    expect(maxDown.get("a")).toBeLessThanOrEqual(100);
    expect(maxDown.get("b")).toBeLessThanOrEqual(100);
    console.log(`4-wave rollout over ${2 * PER_SITE} devices: ${seconds.toFixed(1)} s, ${jsonLines(r.stdout).length} steps; most unavailable at once: a ${maxDown.get("a")}, b ${maxDown.get("b")}`);
    await Promise.all(sims.splice(0).map((s) => s.process.terminate(5_000)));
  }, 240_000);
});

/** Steps' rollout lines: the state of the (one) rollout after each step. */
const states = (r: Result): string[] =>
  jsonLines(r.stdout).flatMap((l) => (Array.isArray(l["rollouts"]) ? (l["rollouts"] as Array<{ state: string }>).map((x) => x.state) : []));

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);

// The canaries: their own sim, labelled ring=canary, failing every web spec but the first with image httpd:2.
const canaryPolicy = (onFailure: string): string => `{ waves: [{ selector: "ring=canary" }, "20%"], maxUnavailable: "25%", onFailure: "${onFailure}" }`;

/** 5 failing canaries and 200 others, all running web httpd:1; what they report then. */
const canariesAndOthers = async (fx: ReturnType<typeof useNats>): Promise<Reality> => {
  const url = fx.server.url;
  startSim(ws, url, ["--devices", "5", "--prefix", "c", "--labels", "ring=canary", "--fail-devices", "ring=canary", "--fail-image", "httpd:2"]);
  startSim(ws, url, ["--devices", "200", "--prefix", "m", "--labels", "ring=main"]);
  await waitForReality(fx.fleet, (r) => r.devices.size >= 205, 30_000, 200);
  const v1 = await ws.fleet(["apply", NT, ...nats(url), "--auto-approve", "v1.ts"]);
  expect(v1.code, v1.stderr).toBe(0);
  const before = await waitForReality(fx.fleet, settledOn(205), 30_000, 200);
  expect(settledOn(205)(before)).toBe(true);
  return before;
};

/** Rolls web out to httpd:2 over the failing canaries: reconcile exits 1. The spec published before, and the run. */
const canaryRun = async (fx: ReturnType<typeof useNats>, onFailure: string): Promise<{ readonly old: string | undefined; readonly r: Result }> => {
  await ws.write(`${onFailure}.ts`, fleetFile("httpd:2", canaryPolicy(onFailure)));
  const before = await canariesAndOthers(fx);
  const r = await reconcile(ws, fx.server.url, `${onFailure}.ts`);
  expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(1);
  return { old: webOf(before, "m-0000").desired, r };
};

describe("a failing canary", () => {
  const fx = useNats();
  it("pause: reconcile exits 1, the canaries keep the failed spec, no device outside the first wave is touched", async () => {
    const { old, r } = await canaryRun(fx, "pause");
    expect(states(r).at(-1)).toBe("Paused");
    const { reality } = await fx.fleet.read();
    expect(hashesOf(reality, ids("m", 200))).toEqual(new Map([[old, 200]]));
    const canaries = hashesOf(reality, ids("c", 5));
    expect(canaries.get(old)).toBeUndefined();
    expect([...canaries.values()]).toEqual([5]);
    for (const id of ids("c", 5)) expect(webOf(reality, id).observed?.phase).toBe("Failed");
    await Promise.all(sims.splice(0).map((s) => s.process.terminate(5_000)));
  }, 120_000);
});

describe("a failing canary, onFailure rollback", () => {
  const fx = useNats();
  it("returns the first wave to the previous spec; reconcile exits 1; the rest never left it", async () => {
    const { old, r } = await canaryRun(fx, "rollback");
    expect(states(r)).toContain("RolledBack");
    // The canaries run the previous spec again (the sim's failing devices start it fine).
    const after = await waitForReality(fx.fleet, settledOn(205), 30_000, 200);
    expect(settledOn(205)(after)).toBe(true);
    expect(hashesOf(after, after.devices.keys())).toEqual(new Map([[old, 205]]));
    await Promise.all(sims.splice(0).map((s) => s.process.terminate(5_000)));
  }, 120_000);
});

describe("devices offline mid-rollout", () => {
  const fx = useNats();
  it("are skipped (the rollout completes without them) and updated once they are back", async () => {
    const url = fx.server.url;
    await ws.write("offline.ts", fleetFile("httpd:2", `{ waves: ["10%", "30%", "60%"], maxUnavailable: "20%" }`));
    const hb = ["--heartbeat-interval", "300"];
    startSim(ws, url, ["--devices", "150", "--prefix", "a", ...hb]);
    const away = startSim(ws, url, ["--devices", "50", "--prefix", "z", ...hb]);
    await waitForReality(fx.fleet, (r) => r.devices.size >= 200, 30_000, 200);
    const v1 = await ws.fleet(["apply", NT, ...nats(url), "--auto-approve", "v1.ts"]);
    expect(v1.code, v1.stderr).toBe(0);
    const before = await waitForReality(fx.fleet, settledOn(200), 30_000, 200);
    expect(settledOn(200)(before)).toBe(true);
    const old = webOf(before, "a-0000").desired;
    // The z devices go away once the first step is applied.
    let killed: Promise<void> | undefined;
    const r = await reconcile(ws, url, "offline.ts", ["--offline-after", "1500ms"], (soFar) => {
      if (killed === undefined && soFar.includes("\n")) killed = away.process.kill();
    });
    await killed;
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0);
    expect(Math.max(...jsonLines(r.stdout).flatMap((l) => (Array.isArray(l["rollouts"]) ? (l["rollouts"] as Array<{ waves: Array<{ offline: number }> }>).map((x) => x.waves.reduce((s, w) => s + w.offline, 0)) : [])))).toBeGreaterThan(0);
    const mid = (await fx.fleet.read()).reality;
    const target = webOf(mid, "a-0000").desired;
    expect(target).not.toBe(old);
    expect(hashesOf(mid, ids("a", 150))).toEqual(new Map([[target, 150]]));
    // Skipped: most z devices still have the previous spec published.
    expect(hashesOf(mid, ids("z", 50)).get(old) ?? 0).toBeGreaterThan(0);
    const back = Date.now();
    restart(ws, away);
    // Back: every z device heartbeats again.
    await waitForReality(fx.fleet, (x) => ids("z", 50).every((id) => (x.devices.get(id as DeviceId)?.lastHeartbeat?.getTime() ?? 0) >= back), 30_000, 200);
    const again = await reconcile(ws, url, "offline.ts", ["--offline-after", "1500ms"]);
    expect(again.code, again.stderr + again.stdout.slice(-2000)).toBe(0);
    const after = await waitForReality(fx.fleet, settledOn(200), 30_000, 200);
    expect(settledOn(200)(after)).toBe(true);
    expect(hashesOf(after, after.devices.keys())).toEqual(new Map([[target, 200]]));
    await Promise.all(sims.splice(0).map((s) => s.process.terminate(5_000)));
  }, 120_000);
});
