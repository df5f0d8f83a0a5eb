/**
 * Staged rollouts: the cost of planning a rollout step against the plain
 * diff of the same inputs (issue 10, item 8).
 *
 * One run, one Reality: 1M devices (bench/fixtures.ts), the 20 assignments
 * converged with 1 % drift, every device online, and `web` on prod devices
 * running `web:1.4`. The World then moves `web` on prod to `web:1.5`, with
 * the policy either `Immediate` (the baseline: one plain diff updates every
 * prod device) or `Waves` (4 waves: 1 %, 10 %, 50 %, the rest; at most 10 %
 * unavailable per `site`): the diff computes the first step (the ledger
 * record, the first wave within the budget, the schedule of the rest).
 * Rounds alternate the two, medians are compared; target ≤ 1.5×.
 *
 * The second part drives a real rollout: one nats-server, `fleet sim` with
 * 10,000 simulated devices (a child process), v1 published and converged,
 * then `fleet reconcile --json --interval 200ms` (a child process) moves
 * `web` to v2 under 4 waves (1 %, 10 %, 50 %, the rest; 95 % success; at
 * most 10 % unavailable). From its JSON lines: when each wave opened and
 * passed, and the total until it exited converged. The same-run baseline is
 * the same change under `Immediate` (back to v1 first): one apply, then
 * until every device reports Running at v2 (polled reads of the fleet).
 *
 * Run: `npm run bench -- rollout` (writes docs/performance-rollout.md; the
 * 1M-device part takes minutes). `ROLLOUT_BENCH_PART=step` or
 * `ROLLOUT_BENCH_PART=reconcile` runs only that part;
 * `ROLLOUT_BENCH_SIM_DEVICES=N` simulates N devices instead of 10,000.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nats, type NatsInterpreter } from "../src/interpreters/nats/index.ts";
import { startNatsServer } from "../test/support/nats-server.ts";
import { removeTempDir, spawnLive, tempDir, type LiveProcess } from "../test/support/processes.ts";
import { deployment, podman, specHash } from "../src/algebra/Deployment.ts";
import type { Deployment, Waves } from "../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../src/algebra/Name.ts";
import { diff } from "../src/diff/Diff.ts";
import type { ObservedState, Reality, ReportedDevice } from "../src/diff/Reality.ts";
import { assign } from "../src/world/Assignment.ts";
import { rollout } from "../src/world/Rollout.ts";
import { world, type World } from "../src/world/World.ts";
import { label } from "../src/selectors/Selector.ts";
import { assignments, benchReality, devices, NOW } from "./fixtures.ts";
import { fmtMs, machine, median } from "./report.ts";

const SIZE = Number(process.env.ROLLOUT_BENCH_DEVICES ?? 1_000_000);
const ROUNDS = 3;
const TARGET = 1.5;

const POLICY: Waves = rollout({ waves: ["1%", "10%", "50%"], maxUnavailable: "10%", groupBy: ["site"], successThreshold: "95%" });

/** The fixture's assignments with prod `web` at `image` under `policy`. */
const withWeb = (fleet: ReturnType<typeof devices>, image: string, policy?: Waves): World => {
  const a = assignments();
  const first = a[0];
  if (first === undefined || first.deployments[0]?.name !== "web") throw new Error("the fixture's first assignment is prod web");
  const old = first.deployments[0] as Deployment;
  // The same service with another image (a plain-data copy: the builder takes mutable input).
  const services = (JSON.parse(JSON.stringify(old.score.services)) as Parameters<typeof podman>[0]["services"]).map((s) => ({ ...s, image }));
  const web = deployment("web", podman({ services }), policy === undefined ? {} : { rollout: policy });
  return world({ fleet, assignments: [assign(label("env", "prod"), web, { name: first.name }), ...a.slice(1)] });
};

/** Every device online and running what is published for it (so the budget has something to count). */
const online = (w: World, r: Reality): Reality => {
  const fleet = w.fleet._tag === "Some" ? w.fleet.value.devices : [];
  const reported = new Map<DeviceId, ReportedDevice>();
  for (const d of fleet) reported.set(d.id, { device: d, lastHeartbeat: NOW });
  const observed = new Map<DeviceId, Map<DeploymentName, ObservedState>>();
  for (const [id, m] of r.desired) {
    const o = new Map<DeploymentName, ObservedState>();
    for (const [name, e] of m) o.set(name, { device: id, deployment: name, phase: "Running", specHash: e.specHash, at: NOW });
    observed.set(id, o);
  }
  return { ...r, devices: reported, observed };
};

const timed = (f: () => unknown): number => {
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

const stepPart = async (): Promise<string> => {
  const fleet = devices(SIZE);
  const before = withWeb(fleet, "registry.local/web:1.4");
  const reality = online(before, benchReality(before));
  const immediate = withWeb(fleet, "registry.local/web:1.5");
  const waves = withWeb(fleet, "registry.local/web:1.5", POLICY);

  const plain: number[] = [];
  const staged: number[] = [];
  let plainActions = 0;
  let stagedActions = 0;
  let waiting = 0;
  let heldBack = 0;
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which goes first, so that neither always runs on a warmer heap.
    const order = i % 2 === 0 ? ["plain", "staged"] : ["staged", "plain"];
    for (const which of order) {
      if (which === "plain")
        plain.push(
          timed(() => {
            plainActions = diff(immediate, reality, { now: NOW }).actions.length;
          }),
        );
      else
        staged.push(
          timed(() => {
            const p = diff(waves, reality, { now: NOW });
            stagedActions = p.actions.length;
            const r = p.rollouts?.[0];
            waiting = r === undefined ? 0 : r.waves.reduce((n, w) => n + w.waiting.length, 0);
            heldBack = r?.budget?.heldBack ?? 0;
          }),
        );
    }
  }
  const a = median(plain);
  const b = median(staged);
  const ratio = b / a;
  return [
    "## Staged rollouts: planning a step (bench/rollout.ts)",
    "",
    machine(),
    "",
    `${SIZE.toLocaleString("en-US")} devices, the 20 assignments of bench/fixtures.ts converged with 1 % drift, every device online and running its entries; \`web\` on prod moves to a new image. Same run, same Reality, ${ROUNDS} alternated rounds, medians.`,
    "",
    "| policy | plan | ratio | actions |",
    "|---|---|---|---|",
    `| \`Immediate\` (plain diff, baseline) | ${fmtMs(a)} | 1× | ${plainActions.toLocaleString("en-US")} |`,
    `| \`Waves\` 1 % / 10 % / 50 % / rest, maxUnavailable 10 % per site (first step) | ${fmtMs(b)} | ${ratio.toFixed(2)}× | ${stagedActions.toLocaleString("en-US")} (${waiting.toLocaleString("en-US")} wait for their wave, ${heldBack.toLocaleString("en-US")} held back by the budget) |`,
    "",
    `- A rollout step within ${TARGET}× the plain diff: **${ratio <= TARGET ? "met" : "missed"}** (${ratio.toFixed(2)}×).`,
  ].join("\n");
};

const SIM_DEVICES = Number(process.env.ROLLOUT_BENCH_SIM_DEVICES ?? 10_000);
const FLEET_BIN = fileURLToPath(new URL("../bin/fleet.js", import.meta.url));
const RECONCILE_TIMEOUT_MS = 20 * 60_000;

/** A fleet file: `web` at `tag` on every prod device, under the 4-wave policy or Immediate. */
const fleetFile = (tag: string, staged: boolean): string => `
import { assign, deployment, label, podman, rollout, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:${tag}" }] })${staged ? `, { rollout: rollout({ waves: ["1%", "10%", "50%"], maxUnavailable: "10%", successThreshold: "95%" }) }` : ""});
export default world({ assignments: [assign(label("env", "prod"), web)] });
`;

interface StepLine {
  readonly type: string;
  readonly step: number;
  readonly at: string;
  readonly result: string;
  readonly verdict: string;
  readonly counts?: { readonly created: number; readonly updated: number };
  readonly rollouts: ReadonlyArray<{ readonly state: string; readonly waves: ReadonlyArray<{ readonly index: number; readonly gate: string; readonly targeted: number }> }>;
}

/** Every device reports `web` Running at `hash` (polled reads of the fleet). */
const allRunning = async (fleet: NatsInterpreter, hash: string, n: number): Promise<void> => {
  const end = Date.now() + RECONCILE_TIMEOUT_MS;
  for (;;) {
    const { reality } = await fleet.read();
    let running = 0;
    for (const m of reality.observed.values()) {
      const o = m.get("web" as DeploymentName);
      if (o?.phase === "Running" && o.specHash === hash) running++;
    }
    if (running >= n) return;
    if (Date.now() > end) throw new Error(`bench: ${running} of ${n} devices run web at ${hash}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

const fleetProcess = (name: string, args: ReadonlyArray<string>, cwd: string): { readonly p: LiveProcess; readonly stdout: () => string; readonly stderr: () => string } => {
  const p = spawnLive(name, process.execPath, [FLEET_BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  p.child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  p.child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  return { p, stdout: () => out, stderr: () => err };
};

/** Publishes `file` with one plan and apply (Immediate), and waits for every device to run it. */
const applyAndConverge = async (fleet: NatsInterpreter, url: string, dir: string, file: string, hash: string): Promise<number> => {
  const t0 = performance.now();
  const r = fleetProcess("fleet apply", ["apply", "--no-typecheck", "--auto-approve", "--backend", "nats", "--nats", url, file], dir);
  await r.p.exited;
  if (r.p.status() !== "exit code 0") throw new Error(`bench: fleet apply ${file}: ${r.p.status()}: ${r.stderr()}`);
  await allRunning(fleet, hash, SIM_DEVICES);
  return performance.now() - t0;
};

const reconcilePart = async (): Promise<string> => {
  const server = await startNatsServer();
  const dir = await tempDir("rollout-bench");
  const fleet = await nats({ servers: server.url, name: "bench-rollout" });
  let sim: ReturnType<typeof fleetProcess> | undefined;
  try {
    // An ES-module package without a tsconfig.json: fleet files resolve `fleet-algebra` through the CLI's (as test/cli's workspaces).
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await writeFile(join(dir, "v1.ts"), fleetFile("1", false));
    await writeFile(join(dir, "v2.ts"), fleetFile("2", false));
    await writeFile(join(dir, "v2-waves.ts"), fleetFile("2", true));
    const hash = (tag: string): string => specHash(deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}` }] })));
    const t0 = performance.now();
    sim = fleetProcess("fleet sim", ["sim", "--devices", String(SIM_DEVICES), "--nats", server.url, "--labels", "env=prod", "--seed", "1"], dir);
    const end = Date.now() + 5 * 60_000;
    while ((await fleet.read()).reality.devices.size < SIM_DEVICES) {
      if (Date.now() > end || sim.p.status() !== undefined) throw new Error(`bench: fleet sim did not register ${SIM_DEVICES} devices (${sim.p.status() ?? "running"}): ${sim.stderr()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const registeredMs = performance.now() - t0;
    const v1Ms = await applyAndConverge(fleet, server.url, dir, "v1.ts", hash("1"));

    // The staged rollout, driven by fleet reconcile.
    const r0 = performance.now();
    const rec = fleetProcess("fleet reconcile", ["reconcile", "--no-typecheck", "--json", "--interval", "200ms", "--backend", "nats", "--nats", server.url, "v2-waves.ts"], dir);
    const timer = setTimeout(() => void rec.p.terminate(), RECONCILE_TIMEOUT_MS);
    await rec.p.exited;
    clearTimeout(timer);
    const reconcileMs = performance.now() - r0;
    if (rec.p.status() !== "exit code 0") throw new Error(`bench: fleet reconcile: ${rec.p.status()}: ${rec.stderr()}`);
    const steps = rec
      .stdout()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as StepLine)
      .filter((l) => l.type === "step");
    const start = Date.parse(steps[0]?.at ?? "");
    const staged = steps.filter((l) => l.rollouts.length > 0);
    const waveCount = staged[0]?.rollouts[0]?.waves.length ?? 0;
    const lastAt = Date.parse(steps.at(-1)?.at ?? "");
    const waves = Array.from({ length: waveCount }, (_, k) => {
      const gateAt = (ok: (g: string, state: string) => boolean): number | undefined => {
        const l = staged.find((s) => {
          const r = s.rollouts[0];
          const g = r?.waves[k]?.gate ?? "";
          return r !== undefined && ok(g, r.state);
        });
        return l === undefined ? undefined : Date.parse(l.at);
      };
      const opened = gateAt((g) => g !== "waiting");
      // The last wave passing completes the rollout (state Complete).
      const passed = gateAt((g, state) => g === "passed" || state === "Complete");
      const stepsIn = staged.filter((s) => {
        const at = Date.parse(s.at);
        return opened !== undefined && at >= opened && (passed === undefined || at < passed) && (s.counts?.updated ?? 0) > 0;
      }).length;
      return { k, targeted: staged[0]?.rollouts[0]?.waves[k]?.targeted ?? 0, opened, passed, applies: stepsIn };
    });
    const updated = steps.reduce((n, l) => n + (l.counts?.updated ?? 0), 0);

    // The baseline: the same change under Immediate (back to v1 first).
    const backMs = await applyAndConverge(fleet, server.url, dir, "v1.ts", hash("1"));
    const immediateMs = await applyAndConverge(fleet, server.url, dir, "v2.ts", hash("2"));

    const rel = (t: number | undefined): string => (t === undefined || Number.isNaN(start) ? "—" : fmtMs(t - start));
    return [
      "## Staged rollouts: `fleet reconcile` over simulated devices (bench/rollout.ts)",
      "",
      machine(),
      "",
      `One nats-server; \`fleet sim --devices ${SIM_DEVICES.toLocaleString("en-US")}\` (one process, 20 ms per simulated start; registered in ${fmtMs(registeredMs)}); v1 published and converged in ${fmtMs(v1Ms)}. Then \`fleet reconcile --json --interval 200ms\` moves \`web\` to v2 under \`rollout({ waves: ["1%", "10%", "50%"], maxUnavailable: "10%", successThreshold: "95%" })\` (4 waves with the rest). Times are from its JSON lines (each step's \`at\`, the start of its read), relative to its first step; a wave opened at the first step whose gate was no longer \`waiting\`, passed at the first step that saw it \`passed\` (the last one: the rollout \`Complete\`).`,
      "",
      "| wave | devices | opened | passed | took | steps that applied |",
      "|---|---:|---:|---:|---:|---:|",
      ...waves.map((w) => `| ${w.k + 1} | ${w.targeted.toLocaleString("en-US")} | ${rel(w.opened)} | ${rel(w.passed)} | ${w.opened !== undefined && w.passed !== undefined ? fmtMs(w.passed - w.opened) : "—"} | ${w.applies} |`),
      "",
      `| run | time |`,
      "|---|---:|",
      `| \`fleet reconcile\`, 4 waves: first step to the step that saw the rollout complete | **${Number.isNaN(lastAt) ? "—" : fmtMs(lastAt - start)}** (${steps.length} steps, ${updated.toLocaleString("en-US")} entries updated) |`,
      `| \`fleet reconcile\` process, start to exit (includes loading the CLI and the fleet file) | ${fmtMs(reconcileMs)} |`,
      `| \`Immediate\` (baseline): \`fleet apply\` of the same change until every device reports Running at v2 | **${fmtMs(immediateMs)}** |`,
      `| (back to v1 under \`Immediate\` before the baseline) | ${fmtMs(backMs)} |`,
      "",
      `The staged rollout took ${(reconcileMs / immediateMs).toFixed(1)}× the immediate change: each wave waits for 95 % of its devices to report the new spec, and the 10 % budget lets at most ${Math.ceil(SIM_DEVICES / 10).toLocaleString("en-US")} devices be unavailable at once, so the large waves take several steps.`,
    ].join("\n");
  } finally {
    await sim?.p.terminate();
    await fleet.close();
    await server.stop();
    await removeTempDir(dir);
  }
};

/** `ROLLOUT_BENCH_PART=step` or `=reconcile` runs only that part. */
export const run = async (): Promise<string> => {
  const part = process.env.ROLLOUT_BENCH_PART;
  const out: string[] = [];
  if (part === undefined || part === "step") out.push(await stepPart());
  if (part === undefined || part === "reconcile") out.push(await reconcilePart());
  return out.join("\n\n");
};

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await run());
