/**
 * NATS apply benchmark: a 100k-action plan (creates) through the NATS
 * interpreter, against raw pipelined puts of the same entries (same keys,
 * same value bytes, same connection, same window of 1024 in flight) in the
 * same run, on a nats-server it starts itself:
 *
 * - `kv.put`: the KV library's own put (`@nats-io/kv`), pipelined;
 * - `raw publish`: the fastest raw path the client has: the interpreter's
 *   pipelined publisher without compare-and-set headers, lock or checks;
 * - `apply`: `interpreter.apply(plan)`: lock, staleness check, encoding,
 *   compare-and-set writes, outcomes, lock release.
 *
 * Also measured: `read()` of the 100k published entries, and a 100k-update
 * apply (its staleness check scans the bucket's revisions).
 *
 * Rounds alternate the three writers, purging the bucket between them; the
 * median of each is reported. Run: `npx tsx bench/nats-apply.ts`.
 */
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { device, type Device } from "../src/algebra/Device.ts";
import { deployment, podman } from "../src/algebra/Deployment.ts";
import { all } from "../src/selectors/Selector.ts";
import { assign } from "../src/world/Assignment.ts";
import { world } from "../src/world/World.ts";
import { diff } from "../src/diff/Diff.ts";
import type { Action } from "../src/diff/Plan.ts";
import { nats } from "../src/interpreters/nats/index.ts";
import { BUCKET, streamOf, subjectPrefixOf } from "../src/interpreters/nats/Buckets.ts";
import { ackPublisher } from "../src/interpreters/nats/Publisher.ts";
import { encodeDesiredValue } from "../src/interpreters/nats/wire.ts";
import { forEachConcurrently, indexes } from "../src/interpreters/Pool.ts";
import { startNatsServer } from "../test/support/nats-server.ts";
import { fmtMs, machine, median } from "./report.ts";

const N = 100_000;
const ROUNDS = 3;
const WINDOW = 1024;

/** `write` over 0..n-1 with WINDOW in flight: the interpreters' own pool, as apply uses it. */
const pipelined = (n: number, write: (i: number) => Promise<unknown>): Promise<void> =>
  forEachConcurrently(indexes(n), WINDOW, async (i) => {
    await write(i);
  });

const rate = (ms: number): string => `${Math.round(N / (ms / 1000)).toLocaleString("en-US")}/s`;

export const run = async (): Promise<string> => {
  const server = await startNatsServer();
  const fleet = await nats({ servers: server.url, name: "bench-apply", window: WINDOW });
  try {
    const jsm = await jetstreamManager(fleet.connection);
    const purge = async (): Promise<void> => {
      await jsm.streams.purge(streamOf(BUCKET.desired));
    };
    const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:1", ports: [{ container: 80, host: 8080 }], env: { MODE: "edge" } }] }));
    const devices: Device[] = Array.from({ length: N }, (_, i) => device(`dev-${String(i).padStart(6, "0")}`, { labels: { shard: String(i % 8) } }));
    const w = world({ fleet: devices, assignments: [assign(all, web)] });
    const plan = diff(w, (await fleet.read()).reality, { now: new Date() });
    if (plan.actions.length !== N || plan.actions.some((a) => a._tag !== "Create")) throw new Error("bench: expected 100k creates");
    const keys = plan.actions.map((a: Action) => `${a.device}.${a.deployment}`);
    const values = plan.actions.map((a) => (a._tag === "Delete" ? new Uint8Array(0) : encodeDesiredValue(a.spec, a.specHash)));
    const prefix = subjectPrefixOf(BUCKET.desired);
    const raw = ackPublisher(fleet.connection);

    const times = { kv: [] as number[], raw: [] as number[], apply: [] as number[] };
    let failed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await purge();
      let t0 = performance.now();
      await pipelined(N, (i) => fleet.buckets.desired.put(keys[i] as string, values[i] as Uint8Array));
      times.kv.push(performance.now() - t0);

      await purge();
      t0 = performance.now();
      await pipelined(N, (i) => raw.publish(prefix + (keys[i] as string), values[i] as Uint8Array));
      times.raw.push(performance.now() - t0);

      await purge();
      t0 = performance.now();
      const result = await fleet.apply(plan);
      times.apply.push(performance.now() - t0);
      if (result._tag !== "Completed") throw new Error(`bench: apply ${result._tag}`);
      failed += result.outcomes.filter((o) => o._tag === "Failed").length;
    }
    raw.close();

    // The last round's apply left 100k entries: read them, then update them all.
    const readTimes: number[] = [];
    let entries = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = await fleet.read();
      readTimes.push(performance.now() - t0);
      entries = [...r.reality.desired.values()].reduce((n, m) => n + m.size, 0);
    }
    const web2 = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:2", ports: [{ container: 80, host: 8080 }], env: { MODE: "edge" } }] }));
    const updates = diff(world({ fleet: devices, assignments: [assign(all, web2)] }), (await fleet.read()).reality, { now: new Date() });
    const tu = performance.now();
    const updated = await fleet.apply(updates);
    const updateMs = performance.now() - tu;
    if (updated._tag !== "Completed") throw new Error(`bench: update apply ${updated._tag}`);

    const kv = median(times.kv);
    const rawMs = median(times.raw);
    const apply = median(times.apply);
    return [
      "## NATS apply (100k creates)",
      "",
      `${machine()}; nats-server ${fleet.connection.info?.version ?? "?"} with JetStream on the same machine (file storage, loopback). ${ROUNDS} rounds, medians; the bucket is purged before each write pass; ${WINDOW} writes in flight for every writer.`,
      "",
      "| writer | time | rate | apply's rate relative to it |",
      "|---|---:|---:|---:|",
      `| \`kv.put\` (KV library), pipelined | ${fmtMs(kv)} | ${rate(kv)} | ${(kv / apply).toFixed(2)} |`,
      `| raw publish (no compare-and-set, no lock, no checks), pipelined | ${fmtMs(rawMs)} | ${rate(rawMs)} | ${(rawMs / apply).toFixed(2)} |`,
      `| **\`apply(plan)\`**: lock, staleness check, compare-and-set writes, outcomes | **${fmtMs(apply)}** | **${rate(apply)}** | 1.00 |`,
      "",
      `Target: apply at ≥ 70 % of the raw rate. Failed writes over all rounds: ${failed}.`,
      "",
      `Also: \`read()\` of ${entries.toLocaleString("en-US")} entries (four buckets, every value decoded): ${fmtMs(median(readTimes))} (median of 3); a 100k-update apply (staleness check by a headers-only scan of the bucket): ${fmtMs(updateMs)} (${rate(updateMs)}).`,
      "",
      "All rounds: " + (["kv", "raw", "apply"] as const).map((k) => `${k} ${times[k].map((ms) => fmtMs(ms)).join(", ")}`).join("; ") + ".",
    ].join("\n");
  } finally {
    await fleet.close();
    await server.stop();
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${await run()}\n`);
}
