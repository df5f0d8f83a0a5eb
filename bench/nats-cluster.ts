/**
 * NATS sizing benchmark: the same fleet on one nats-server (buckets with 1
 * replica) and on a three-server JetStream cluster on loopback (3 replicas,
 * the simulated agents spread over the members, one connection per member).
 * For each: 10,000 simulated devices (the `fleet sim` machinery) register,
 * then one deployment per device is applied and every device reports it
 * Running. Measured:
 *
 * - registration time, apply time and rate, time until all Running;
 * - entries and bytes per bucket (the streams' own counts) and per device;
 * - resident memory of the server processes (VmRSS from /proc), total and
 *   per 10,000 devices;
 * - the cluster's figures relative to the single server's, same run.
 *
 * Everything (servers, agents, control plane) shares this machine's cores, so
 * absolute rates are a floor; the ratios are what carries over. Written to
 * docs/scale.md's "Measured" section by `npm run bench` (bench/run.ts puts
 * every section in docs/performance.md; this one also in docs/scale.md).
 * Run alone: `npx tsx bench/nats-cluster.ts`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { deployment, podman } from "../src/algebra/Deployment.ts";
import { all } from "../src/selectors/Selector.ts";
import { assign } from "../src/world/Assignment.ts";
import { world } from "../src/world/World.ts";
import { diff } from "../src/diff/Diff.ts";
import { nats } from "../src/interpreters/nats/index.ts";
import { ALL_ROLES, BUCKET, streamOf } from "../src/interpreters/nats/Buckets.ts";
import { runSimulation, type Simulation } from "../src/interpreters/nats/Simulation.ts";
import { startNatsCluster, startNatsServer, type NatsServer } from "../test/support/nats-server.ts";
import { fmtMs, machine } from "./report.ts";

/** 10,000 by default; `FLEET_BENCH_DEVICES=3000 npx tsx bench/nats-cluster.ts` for other sizes. */
const DEVICES = Number(process.env["FLEET_BENCH_DEVICES"] ?? 10_000);
const LATENCY_MS = 20;
const TIMEOUT_MS = 300_000;

const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:1", ports: [{ container: 80, host: 8080 }] }] }));

interface Figures {
  readonly topology: string;
  readonly registerMs: number;
  readonly applyMs: number;
  readonly convergeMs: number;
  readonly entries: number;
  readonly bytes: number;
  readonly bytesByBucket: ReadonlyArray<readonly [string, number, number]>;
  readonly rssBytes: number;
  readonly version: string;
}

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
};

const measure = async (topology: string, servers: ReadonlyArray<NatsServer>, replicas: number): Promise<Figures> => {
  const urls = servers.map((s) => s.url);
  const fleet = await nats({ servers: urls, name: "bench-cluster", replicas });
  let running = 0;
  const sims: Simulation[] = [];
  try {
    const t0 = performance.now();
    // One simulation per member, each pinned to it, so agents are spread evenly.
    const per = Math.ceil(DEVICES / servers.length);
    for (const [i, url] of urls.entries()) {
      const n = Math.min(per, DEVICES - i * per);
      sims.push(
        await runSimulation({
          devices: n,
          nats: { servers: [url] },
          replicas,
          prefix: `m${i}`,
          latencyMs: LATENCY_MS,
          seed: i,
          heartbeatIntervalMs: 60_000,
          onReport: (_d, _n, s) => {
            if (s.phase === "Running") running++;
          },
        }),
      );
    }
    const registerMs = performance.now() - t0;

    const t1 = performance.now();
    const plan = diff(world({ assignments: [assign(all, web)] }), (await fleet.read()).reality, { now: new Date() });
    if (plan.actions.length !== DEVICES) throw new Error(`bench: ${plan.actions.length} actions, expected ${DEVICES} (registered: ${(await fleet.read()).reality.devices.size})`);
    const result = await fleet.apply(plan);
    const applyMs = performance.now() - t1;
    if (result._tag !== "Completed" || result.outcomes.some((o) => o._tag === "Failed")) throw new Error(`bench: apply ${result._tag}`);
    while (running < DEVICES) {
      if (performance.now() - t1 > TIMEOUT_MS) throw new Error(`bench: ${topology}: ${running} of ${DEVICES} Running after ${TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const convergeMs = performance.now() - t1;

    const jsm = await jetstreamManager(fleet.connection);
    const bytesByBucket: Array<readonly [string, number, number]> = [];
    for (const role of ALL_ROLES) {
      const info = await jsm.streams.info(streamOf(BUCKET[role]));
      bytesByBucket.push([BUCKET[role], info.state.messages, info.state.bytes]);
    }
    const rssBytes = servers.reduce((sum, s) => sum + rssOf(s.pid), 0);
    return {
      topology,
      registerMs,
      applyMs,
      convergeMs,
      entries: bytesByBucket.reduce((n, [, m]) => n + m, 0),
      bytes: bytesByBucket.reduce((n, [, , b]) => n + b, 0),
      bytesByBucket,
      rssBytes,
      version: fleet.connection.info?.version ?? "?",
    };
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
    await fleet.close();
  }
};

const n = (x: number): string => Math.round(x).toLocaleString("en-US");
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const perSecond = (count: number, ms: number): string => `${n(count / (ms / 1000))}/s`;

export const run = async (): Promise<string> => {
  const single = await startNatsServer();
  let one: Figures;
  try {
    one = await measure("1 server, 1 replica", [single], 1);
  } finally {
    await single.stop();
  }
  const cluster = await startNatsCluster(3);
  let three: Figures;
  try {
    three = await measure("3-server cluster, 3 replicas", cluster.servers, 3);
  } finally {
    await cluster.stop();
  }

  const row = (f: Figures): string =>
    `| ${f.topology} | ${fmtMs(f.registerMs)} | ${fmtMs(f.applyMs)} (${perSecond(DEVICES, f.applyMs)}) | **${fmtMs(f.convergeMs)}** (${perSecond(DEVICES, f.convergeMs)}) | ${n(f.entries)} | ${n(f.bytes / DEVICES)} B | ${mib(f.rssBytes)} | ${mib((f.rssBytes * 10_000) / DEVICES)} |`;
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  const section = [
    `## NATS sizing: one server and a three-server cluster (${n(DEVICES)} simulated devices)`,
    "",
    `${machine()}; nats-server ${one.version} with JetStream (file storage) on the same machine as the ${n(DEVICES)} agents (\`fleet sim\` machinery, one connection per server, ${LATENCY_MS} ms per simulated start) and the control plane, all in one Node process. One deployment per device.`,
    "",
    `| topology | all registered | apply (rate) | all Running from apply start (rate) | entries | bytes per device (all buckets) | server RSS (all members) | server RSS per 10k devices${DEVICES === 10_000 ? "" : " (scaled linearly from this run: an upper bound, the servers' base memory counted again)"} |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    row(one),
    row(three),
    "",
    `Cluster relative to the single server, same run: apply time ${ratio(three.applyMs, one.applyMs)}, convergence time ${ratio(three.convergeMs, one.convergeMs)}, stored bytes ${ratio(three.bytes, one.bytes)} per replica (each member stores a full copy), server RSS ${ratio(three.rssBytes, one.rssBytes)} (three processes).`,
    "",
    "Per bucket (cluster run; messages, bytes of one replica):",
    "",
    "| bucket | messages | bytes | bytes per device |",
    "|---|---:|---:|---:|",
    ...three.bytesByBucket.map(([b, m, bytes]) => `| \`${b}\` | ${n(m)} | ${n(bytes)} | ${n(bytes / DEVICES)} |`),
  ].join("\n");

  // docs/scale.md quotes this section between its markers.
  const scale = fileURLToPath(new URL("../docs/scale.md", import.meta.url));
  const doc = readFileSync(scale, "utf8");
  const begin = "<!-- bench/nats-cluster.ts: begin -->";
  const end = "<!-- bench/nats-cluster.ts: end -->";
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from >= 0 && to > from) writeFileSync(scale, `${doc.slice(0, from + begin.length)}\n${section.replace(/^## .*\n\n/, "")}\n${doc.slice(to)}`);
  return section;
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await run()}\n`);
}
