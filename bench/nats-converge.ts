/**
 * NATS convergence benchmark: 1,000 simulated devices (the `fleet sim`
 * machinery: real agents on simulated runtimes, one shared connection, in
 * this process) on one nats-server started here. Measured from the start of
 * an apply (read, diff, apply) until every deployment reports Running at its
 * spec:
 * - round 1: two deployments per device, published for the first time;
 * - round 2: one of them changes spec on every device (updates).
 * Per device, the latency is the time until the last deployment this round
 * changed on it reported Running; p50 and p99 over the devices are reported,
 * and the total.
 *
 * The simulated runtime takes 20 ms to start a deployment; the control plane
 * runs in the same process as the agents (one event loop for both), so the
 * figures include that contention. Run: `npx tsx bench/nats-converge.ts`.
 */
import { fileURLToPath } from "node:url";
import { deployment, podman, specHash, type Deployment } from "../src/algebra/Deployment.ts";
import { all, label } from "../src/selectors/Selector.ts";
import { assign } from "../src/world/Assignment.ts";
import { world, type World } from "../src/world/World.ts";
import { diff } from "../src/diff/Diff.ts";
import { nats } from "../src/interpreters/nats/index.ts";
import { runSimulation } from "../src/interpreters/nats/Simulation.ts";
import { startNatsServer } from "../test/support/nats-server.ts";
import { fmtMs, machine, percentile } from "./report.ts";

/** 1,000 by default; `FLEET_BENCH_DEVICES=5000 npx tsx bench/nats-converge.ts` for other sizes. */
const DEVICES = Number(process.env["FLEET_BENCH_DEVICES"] ?? 1_000);
const LATENCY_MS = 20;
const TIMEOUT_MS = 120_000;

const web = (tag: string): Deployment => deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}`, ports: [{ container: 80, host: 8080 }] }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));

interface Round {
  readonly name: string;
  readonly actions: number;
  readonly applyMs: number;
  readonly totalMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export const run = async (): Promise<string> => {
  const server = await startNatsServer();
  const fleet = await nats({ servers: server.url, name: "bench-converge" });
  // `${device}.${deployment}` -> spec hash it reported Running, and when (ms since the round started).
  const running = new Map<string, { readonly hash: string; readonly at: number; readonly round: number }>();
  let roundStart = 0;
  let roundNo = 0;
  const t0 = performance.now();
  const sim = await runSimulation({
    devices: DEVICES,
    nats: { servers: server.url },
    prefix: "sim",
    labels: { env: "prod" },
    latencyMs: LATENCY_MS,
    seed: 1,
    heartbeatIntervalMs: 10_000,
    onReport: (d, n, s) => {
      if (s.phase === "Running" && s.specHash !== undefined) running.set(`${d}.${n}`, { hash: s.specHash, at: performance.now() - roundStart, round: roundNo });
    },
  });
  const startMs = performance.now() - t0;

  const round = async (name: string, w: World, want: ReadonlyArray<Deployment>): Promise<Round> => {
    const wanted = new Map(want.map((d) => [d.name as string, specHash(d)]));
    roundNo++;
    roundStart = performance.now();
    const plan = diff(w, (await fleet.read()).reality, { now: new Date() });
    const result = await fleet.apply(plan);
    const applyMs = performance.now() - roundStart;
    if (result._tag !== "Completed" || result.outcomes.some((o) => o._tag === "Failed")) throw new Error(`bench: apply ${result._tag}`);
    const done = (): boolean => {
      for (const a of sim.agents) for (const [n, h] of wanted) if (running.get(`${a.deviceId}.${n}`)?.hash !== h) return false;
      return true;
    };
    while (!done()) {
      if (performance.now() - roundStart > TIMEOUT_MS) throw new Error(`bench: ${name} did not converge in ${TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const totalMs = performance.now() - roundStart;
    // Per device: until the last of the deployments this round changed on it reported Running.
    const perDevice = sim.agents.map((a) =>
      Math.max(0, ...[...wanted.keys()].map((n) => running.get(`${a.deviceId}.${n}`)).filter((x) => x !== undefined && x.round === roundNo).map((x) => (x as { at: number }).at)),
    );
    return { name, actions: plan.actions.length, applyMs, totalMs, p50: percentile(perDevice, 50), p99: percentile(perDevice, 99), max: Math.max(...perDevice) };
  };

  try {
    const registered = (await fleet.read()).reality.devices.size;
    if (registered !== DEVICES) throw new Error(`bench: ${registered} devices registered, expected ${DEVICES}`);
    const first = await round("publish 2 deployments per device", world({ assignments: [assign(label("env", "prod"), web("1")), assign(all, metrics)] }), [web("1"), metrics]);
    const second = await round("change one spec on every device", world({ assignments: [assign(label("env", "prod"), web("2")), assign(all, metrics)] }), [web("2"), metrics]);
    // Cross-check with what the control plane reads back.
    const { reality } = await fleet.read();
    let observedRunning = 0;
    for (const m of reality.observed.values()) for (const o of m.values()) if (o.phase === "Running") observedRunning++;

    const row = (r: Round): string =>
      `| ${r.name} | ${r.actions.toLocaleString("en-US")} | ${fmtMs(r.applyMs)} | **${fmtMs(r.totalMs)}** | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMs(r.max)} |`;
    return [
      `## NATS convergence (${DEVICES.toLocaleString("en-US")} simulated agents)`,
      "",
      `${machine()}; nats-server ${fleet.connection.info?.version ?? "?"} with JetStream on the same machine. ${DEVICES.toLocaleString("en-US")} agents (\`fleet sim\` machinery, one shared connection, ${LATENCY_MS} ms per simulated start) and the control plane in one Node process; they registered in ${fmtMs(startMs)}.`,
      "",
      "Time from the start of an apply (read, diff, apply) until every deployment reports Running at its spec; per device, until the last deployment the round changed on it did:",
      "",
      "| round | actions | apply returned | all Running | device p50 | device p99 | device max |",
      "|---|---:|---:|---:|---:|---:|---:|",
      row(first),
      row(second),
      "",
      `Target: all Running within 15 s. Read back afterwards: ${observedRunning.toLocaleString("en-US")} observed states Running.`,
    ].join("\n");
  } finally {
    await sim.stop();
    await fleet.close();
    await server.stop();
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await run()}\n`);
}
