/**
 * `fleet plan --backend nats` end to end at 100k registered devices, against
 * the raw read of the same buckets in the same run.
 *
 * A nats-server (test/support's harness: free loopback port, own store
 * directory, stopped by PID) is populated as a fleet would leave it: 100,000
 * devices registered (device-info and a heartbeat each), the World of the
 * end-to-end benchmark (20 assignments, no declared fleet, 3 deployments per
 * device) published as apply writes it (same keys and value bytes), with 1 % of the
 * entries at a stale spec (drift). Then, alternating, median of 3:
 *
 * - baseline: the raw read: connect, the latest message of every key of the
 *   four buckets (the interpreter's own bulk scan, values as bytes, nothing
 *   decoded), disconnect;
 * - the real `fleet plan --backend nats … --no-typecheck` (node bin/fleet.js,
 *   dist/ when built and current, else the sources), process start to exit,
 *   peak RSS from `/usr/bin/time`.
 *
 * Target: the plan within 3× the raw read.
 *
 * Run: `npm run bench -- nats-plan`, or `npx tsx bench/nats-plan.ts`
 * (`FLEET_BENCH_DEVICES` for another size).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deployment, podman, specHash } from "../src/algebra/Deployment.ts";
import type { World } from "../src/world/World.ts";
import { nats } from "../src/interpreters/nats/index.ts";
import { BUCKET, subjectPrefixOf } from "../src/interpreters/nats/Buckets.ts";
import { encodeDesiredValue } from "../src/interpreters/nats/wire.ts";
import { connectJetStream } from "../src/interpreters/nats/Connection.ts";
import { deviceWriter } from "../src/interpreters/nats/DeviceSide.ts";
import { ackPublisher } from "../src/interpreters/nats/Publisher.ts";
import { scanLatest } from "../src/interpreters/nats/Scan.ts";
import { forEachConcurrently, indexes } from "../src/interpreters/Pool.ts";
import { startNatsServer } from "../test/support/nats-server.ts";
import { devices, e2eFleetFile, registeredReality } from "./fixtures.ts";
import { fmtMs, machine, median } from "./report.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const FLEET = join(here, "..", "bin", "fleet.js");
const N = Number(process.env["FLEET_BENCH_DEVICES"] ?? 100_000);
const ROUNDS = 3;
const DRIFT = 100;
// Writes in flight while populating: modest, so that a busy machine does not time acknowledgements out.
const WINDOW = 256;

const rawRead = async (url: string): Promise<{ readonly ms: number; readonly messages: number; readonly bytes: number }> => {
  const t0 = performance.now();
  const { nc, js } = await connectJetStream({ servers: [url], name: "bench-raw-read" });
  try {
    const all = await Promise.all([BUCKET.desired, BUCKET.info, BUCKET.state, BUCKET.heartbeat].map((b) => scanLatest(js, b)));
    const ms = performance.now() - t0;
    let messages = 0;
    let bytes = 0;
    for (const entries of all)
      for (const e of entries) {
        messages++;
        bytes += e.value.length;
      }
    return { ms, messages, bytes };
  } finally {
    await nc.close();
  }
};

interface Timed {
  readonly ms: number;
  readonly rssMiB: number;
  readonly lastLine: string;
}

const fleetPlan = (url: string, cwd: string): Timed => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, FLEET, "plan", "--backend", "nats", "--nats", url, "--no-typecheck", "--offline-after", "24h", "fleet.ts"], {
    cwd,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`fleet plan --backend nats exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const err = r.stderr.trim().split("\n");
  return { ms, rssMiB: Number(err[err.length - 1]) / 1024, lastLine: r.stdout.trim().split("\n").slice(-1)[0] ?? "" };
};

export const run = async (): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-nats-plan-"));
  const server = await startNatsServer();
  try {
    writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "fleet-nats-plan-bench", private: true, type: "module" })}\n`);
    writeFileSync(join(dir, "fleet.ts"), e2eFleetFile("fleet-algebra"));
    writeFileSync(join(dir, "world.ts"), e2eFleetFile(join(here, "..", "src", "index.ts")));
    const world = ((await import(join(dir, "world.ts"))) as { default: World }).default;
    const fleet = devices(N);

    // Populate: registrations and heartbeats as agents write them, then the desired entries through apply.
    process.stderr.write(`nats-plan: ${N} devices: populating …\n`);
    const t0 = performance.now();
    const at = new Date();
    const registrar = await nats({ servers: [server.url], name: "bench-populate" });
    const publisher = ackPublisher(registrar.connection, { timeoutMs: 120_000, lostAfterMs: 120_000 });
    const writer = deviceWriter(publisher);
    await forEachConcurrently(indexes(N), WINDOW, async (i) => {
      const d = fleet[i] as (typeof fleet)[number];
      await writer.publishInfo(d);
      await writer.heartbeat(d.id, at);
    });
    process.stderr.write(`nats-plan: registered in ${fmtMs(performance.now() - t0)}; publishing desired entries …\n`);
    const { reality } = registeredReality(world, fleet, at, 0, "");
    // The desired entries as apply writes them (same keys, same value bytes), published straight: populating is not
    // what is measured, and on a busy machine an apply's JetStream API calls (the lock) can time out.
    const keys: string[] = [];
    const values: Uint8Array[] = [];
    let n = 0;
    for (const entries of reality.desired.values())
      for (const e of entries.values()) {
        if (e.spec === undefined) continue;
        // Drift: every DRIFT-th entry published at a stale spec of its own name (an agent checks the name against the key).
        const spec = ++n % DRIFT === 0 ? deployment(e.deployment, podman({ services: [{ name: "main", image: "registry.local/stale:0" }] })) : e.spec;
        keys.push(`${e.device}.${e.deployment}`);
        values.push(encodeDesiredValue(spec, specHash(spec)));
      }
    const desiredPrefix = subjectPrefixOf(BUCKET.desired);
    await forEachConcurrently(indexes(keys.length), WINDOW, async (i) => {
      await publisher.publish(desiredPrefix + (keys[i] as string), values[i] as Uint8Array);
    });
    publisher.close();
    await registrar.close();
    const populateMs = performance.now() - t0;
    process.stderr.write(`nats-plan: populated in ${fmtMs(populateMs)}; measuring …\n`);

    const raw: number[] = [];
    const plans: Timed[] = [];
    let sizes = { messages: 0, bytes: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const r = await rawRead(server.url);
      raw.push(r.ms);
      process.stderr.write(`nats-plan: raw read ${fmtMs(r.ms)}\n`);
      sizes = r;
      plans.push(fleetPlan(server.url, dir));
      process.stderr.write(`nats-plan: fleet plan ${fmtMs((plans[plans.length - 1] as Timed).ms)}\n`);
    }
    const base = median(raw);
    const planMs = median(plans.map((p) => p.ms));
    const rss = median(plans.map((p) => p.rssMiB));
    const ratio = planMs / base;
    return [
      "## NATS plan, end to end (100k devices)",
      "",
      `${machine()}; nats-server with JetStream (file storage) on the same machine. \`bench/nats-plan.ts\`: ${N.toLocaleString("en")} registered devices (device-info and a heartbeat each), the end-to-end World (20 assignments, no declared fleet, 3 deployments per device) published as apply writes them (same keys and value bytes) with 1 % of the entries at a stale spec (populated in ${fmtMs(populateMs)}). ${ROUNDS} rounds alternating the raw read and the real \`fleet plan --backend nats … --no-typecheck\` (\`node bin/fleet.js\`), medians.`,
      "",
      "| what | wall time | × raw read | peak RSS |",
      "|---|---:|---:|---:|",
      `| raw read: connect, latest message of every key of the 4 buckets (${sizes.messages.toLocaleString("en")} messages, ${(sizes.bytes / 2 ** 20).toFixed(0)} MiB of values), nothing decoded | ${fmtMs(base)} | 1× | |`,
      `| **\`fleet plan --backend nats\`**, process start to exit | **${fmtMs(planMs)}** | **${ratio.toFixed(2)}×** | ${rss.toFixed(0)} MiB |`,
      "",
      `Last line of the plan: ${plans[0]?.lastLine ?? ""}`,
      "",
      `- \`fleet plan --backend nats\` at ${N.toLocaleString("en")} devices within 3× the raw read: ${ratio <= 3 ? "**met**" : "**missed**"} (${ratio.toFixed(2)}×).`,
      "",
      `All rounds: raw ${raw.map(fmtMs).join(", ")}; plan ${plans.map((p) => fmtMs(p.ms)).join(", ")}.`,
    ].join("\n");
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${await run()}\n`);
