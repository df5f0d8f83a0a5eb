/**
 * Signed desired state: what signing costs an apply, and what verifying costs
 * a device.
 *
 * - Apply: a 100k-create plan through the NATS interpreter, unsigned and
 *   signed (`apply(plan, { sign })`: Merkle trees of 256, one Ed25519 JWS
 *   per tree, a signature in every value), on a nats-server it starts
 *   itself. Rounds alternate the two, purging the bucket before each; the
 *   medians and their ratio are reported (target: signed ≤ 1.5 × unsigned).
 *   A signed apply signs its trees on a worker thread (SigningThread.ts),
 *   stopped before each signed round so that every one pays its start-up;
 *   the CPU time of the bench process (all its threads, not nats-server's)
 *   shows what the signing costs in total, wherever it runs.
 * - Device: what an agent does per desired entry it reads with a trust
 *   store: decode the value (wire.ts) and accept it (Accept.ts: signature,
 *   inclusion proof, device, deployment, spec hash, expiry, revision). Each
 *   entry measured comes from another tree, so every one pays a signature
 *   check (a device's entries rarely share a tree); target ≤ 1 ms per entry.
 *   The applies sign 8 trees at a time, a chunk or two ahead of the writes (Apply.ts).
 *
 * Run: `npx tsx bench/nats-signed.ts` (or `npm run bench -- nats-signed`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { device, type Device } from "../src/algebra/Device.ts";
import { deployment, podman, specHash } from "../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../src/algebra/Name.ts";
import { all } from "../src/selectors/Selector.ts";
import { assign } from "../src/world/Assignment.ts";
import { world } from "../src/world/World.ts";
import { diff } from "../src/diff/Diff.ts";
import { acceptEntry } from "../src/agent/Accept.ts";
import type * as NatsModule from "../src/interpreters/nats/index.ts";
import { BUCKET, streamOf } from "../src/interpreters/nats/Buckets.ts";
import { desiredPartsDecoder, encodeDesiredValue, parseEntryKey } from "../src/interpreters/nats/wire.ts";
import { addKey, emptyTrustStore, encodeSigningKey, generateSigningKey } from "../src/trust/Keys.ts";
import { deviceWriter } from "../src/interpreters/nats/DeviceSide.ts";
import { ackPublisher } from "../src/interpreters/nats/Publisher.ts";
import { forEachConcurrently, indexes } from "../src/interpreters/Pool.ts";
import { devices as benchDevices, e2eFleetFile } from "./fixtures.ts";
import { signaturesOf, type SignedBatch } from "../src/trust/SignedBatch.ts";
import type { EntrySignature } from "../src/trust/SignedEntry.ts";
import { ENTRIES_PER_TREE } from "../src/trust/SignedTree.ts";
import type * as SignerModule from "../src/trust/Signer.ts";
import type * as SigningThreadModule from "../src/trust/SigningThread.ts";
import * as E from "fp-ts/lib/Either.js";
import { startNatsServer } from "../test/support/nats-server.ts";
import { distIsCurrent, fmtMs, machine, median, percentile, packageModule } from "./report.ts";

const N = 100_000;
const ROUNDS = 5;
/** `fleet apply` end to end: registered devices (3 deployments each: about N actions), rounds alternating unsigned and signed. */
const CLI_DEVICES = Math.ceil(N / 3);
const CLI_ROUNDS = Number(process.env["BENCH_SIGNED_CLI_ROUNDS"] ?? 3);
const FLEET = fileURLToPath(new URL("../bin/fleet.js", import.meta.url));

/** `fleet apply --auto-approve` on NATS, process start to exit (what a user waits for). */
const cliApply = (url: string, cwd: string, extra: ReadonlyArray<string>): { readonly ms: number; readonly lastLine: string } => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [FLEET, "apply", "--backend", "nats", "--nats", url, "--no-typecheck", "--offline-after", "24h", "--auto-approve", ...extra, "fleet.ts"], {
    cwd,
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`fleet apply exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return { ms, lastLine: r.stdout.trim().split("\n").slice(-1)[0] ?? "" };
};
const DAY = 86_400_000;

export const run = async (): Promise<string> => {
  // The apply side as an installed package runs it (dist/, when `npm run build` made it current): the
  // signing thread then boots from JavaScript, not through the tsx loader, which takes it three to
  // four times as long to start and would charge a cold signed apply for a cost no user pays.
  const compiled = distIsCurrent();
  const { nats } = await packageModule<typeof NatsModule>("interpreters/nats/index");
  const { entrySigner } = await packageModule<typeof SignerModule>("trust/Signer");
  const { signingThreadState, stopSigningThread } = await packageModule<typeof SigningThreadModule>("trust/SigningThread");
  const server = await startNatsServer();
  const fleet = await nats({ servers: server.url, name: "bench-signed" });
  try {
    const jsm = await jetstreamManager(fleet.connection);
    const purge = async (): Promise<void> => {
      await jsm.streams.purge(streamOf(BUCKET.desired));
    };
    const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:1", ports: [{ container: 80, host: 8080 }], env: { MODE: "edge" } }] }));
    const devices: Device[] = Array.from({ length: N }, (_, i) => device(`dev-${String(i).padStart(6, "0")}`));
    const h = specHash(web);
    const plan = diff(world({ fleet: devices, assignments: [assign(all, web)] }), (await fleet.read()).reality, { now: new Date() });
    if (plan.actions.length !== N) throw new Error("bench: expected 100k creates");
    const key = generateSigningKey(new Date());
    const trust = addKey(key.publicJwk, new Date())(emptyTrustStore);

    // Signatures made before the timing: what the bigger values cost the writes, signing excluded.
    const presigned = await entrySigner(key, { now: new Date(), ttlMs: 30 * DAY, plan: "bench", previous: () => undefined })(
      plan.actions.flatMap((a) => (a._tag === "Delete" ? [] : [a])),
    );
    // Pre-signed batches hand out the same bytes a signer's batch does, with no signing behind them.
    const presignedBatch = (entries: ReadonlyArray<{ readonly device: string }>): SignedBatch => {
      const at = entries.map((e) => Number(e.device.slice(4)));
      return { length: at.length, json: (i) => presigned.json(at[i] as number), signature: (i) => presigned.signature(at[i] as number) };
    };
    const times = { unsigned: [] as number[], signed: [] as number[], warm: [] as number[], presigned: [] as number[] };
    const cpu = { unsigned: [] as number[], signed: [] as number[], warm: [] as number[], presigned: [] as number[] };
    let failed = 0;
    let offThread = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ["unsigned", "signed", "warm", "presigned"] as const) {
        await purge();
        // A signed apply starts its own signing thread, as a one-shot `fleet apply` does; a warm one finds the
        // thread the signed apply before it started, as a control plane's later applies do.
        if (mode !== "warm") await stopSigningThread();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        // Built inside the timing: a real apply makes its signer per apply.
        const sign =
          mode === "signed" || mode === "warm"
            ? entrySigner(key, { now: new Date(), ttlMs: 30 * DAY, plan: "bench", previous: () => undefined })
            : mode === "presigned"
              ? async (entries: ReadonlyArray<{ readonly device: string }>) => presignedBatch(entries)
              : undefined;
        const result = await fleet.apply(plan, sign === undefined ? {} : { sign });
        times[mode].push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu[mode].push((c.user + c.system) / 1000);
        if (mode !== "unsigned" && mode !== "presigned" && signingThreadState() === "ready") offThread++;
        if (result._tag !== "Completed") throw new Error(`bench: apply ${result._tag}`);
        failed += result.outcomes.filter((o) => o._tag === "Failed").length;
      }
    }

    // Device side: the first entry of each tree, as the agent reads it (bytes) and accepts it; three
    // signings of the plan (three plan ids, so three sets of trees) give enough trees to measure batches.
    const firsts: Array<{ key: string; bytes: Uint8Array }> = [];
    let sigs: ReadonlyArray<EntrySignature> = [];
    for (const id of ["bench-1", "bench-2", "bench-3"]) {
      sigs = signaturesOf(await entrySigner(key, { now: new Date(), ttlMs: 30 * DAY, plan: id, previous: () => undefined })(plan.actions.flatMap((a) => (a._tag === "Delete" ? [] : [a]))));
      for (let i = 0; i < sigs.length; i += ENTRIES_PER_TREE) {
        const s = sigs[i] as EntrySignature;
        firsts.push({ key: `${s.device}.${s.deployment}`, bytes: encodeDesiredValue(web, h, s) });
      }
    }
    const perEntry: number[] = [];
    let accepted = 0;
    const now = new Date();
    // The first third warms the code up (an agent verifies entries all its life); the rest is measured, one entry
    // at a time and in batches of BATCH (a batch's time over its size: one pre-empted entry on a busy machine
    // moves a percentile, not a batch's median).
    const warm = Math.floor(firsts.length / 3);
    const BATCH = 100;
    const perEntryInBatches: number[] = [];
    const cpuPerEntryInBatches: number[] = [];
    let batchStart = performance.now();
    let batchCpu = process.cpuUsage();
    for (const [n, { key: k, bytes }] of firsts.entries()) {
      if (n >= warm && (n - warm) % BATCH === 0) {
        if (n > warm) {
          perEntryInBatches.push((performance.now() - batchStart) / BATCH);
          const c = process.cpuUsage(batchCpu);
          cpuPerEntryInBatches.push((c.user + c.system) / 1000 / BATCH);
        }
        batchStart = performance.now();
        batchCpu = process.cpuUsage();
      }
      const ek = parseEntryKey(k);
      if (E.isLeft(ek)) throw new Error(ek.left.message);
      // A fresh decoder per entry: a device decodes each value on its own.
      const decode = desiredPartsDecoder();
      const t0 = performance.now();
      const v = decode(bytes, ek.right);
      if (E.isLeft(v)) throw new Error("bench: undecodable");
      const r = acceptEntry(new Map(), { device: ek.right.device as DeviceId, trust, accepted: new Map(), now })({
        _tag: "Put",
        deployment: ek.right.deployment as DeploymentName,
        revision: 1,
        value: {
          _tag: "Decoded",
          spec: v.right.spec,
          specHash: v.right.specHash,
          actualSpecHash: v.right.actualSpecHash,
          ...(v.right.signature !== undefined ? { signature: E.mapLeft(() => "bad")(v.right.signature) } : {}),
        },
      });
      if (n >= warm) perEntry.push(performance.now() - t0);
      if (E.isRight(r)) accepted++;
    }
    if (accepted !== firsts.length) throw new Error(`bench: ${firsts.length - accepted} entries not accepted`);

    // `fleet apply` end to end: the same World for both, registered devices, the bucket purged before each run.
    const dir = mkdtempSync(join(tmpdir(), "fleet-signed-cli-"));
    const cli = { unsigned: [] as number[], signed: [] as number[] };
    let cliLast = "";
    try {
      writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "fleet-signed-bench", private: true, type: "module" })}\n`);
      writeFileSync(join(dir, "fleet.ts"), e2eFleetFile("fleet-algebra"));
      writeFileSync(join(dir, "signing.key"), encodeSigningKey(key), { mode: 0o600 });
      const publisher = ackPublisher(fleet.connection, { timeoutMs: 120_000, lostAfterMs: 120_000 });
      const writer = deviceWriter(publisher);
      const registered = benchDevices(CLI_DEVICES);
      const at = new Date();
      await forEachConcurrently(indexes(registered.length), 256, async (i) => {
        const d = registered[i] as Device;
        await writer.publishInfo(d);
        await writer.heartbeat(d.id, at);
      });
      publisher.close();
      for (let round = 0; round < CLI_ROUNDS; round++)
        for (const mode of ["unsigned", "signed"] as const) {
          await purge();
          const r = cliApply(server.url, dir, mode === "signed" ? ["--signing-key", "signing.key"] : []);
          cli[mode].push(r.ms);
          cliLast = r.lastLine;
        }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const cliRatio = median(cli.signed) / median(cli.unsigned);

    const unsigned = median(times.unsigned);
    const signed = median(times.signed);
    const ratio = signed / unsigned;
    const cpuRatio = (mode: keyof typeof cpu): string => (median(cpu[mode]) / median(cpu.unsigned)).toFixed(2);
    return [
      "## Signed desired state (NATS, 100k creates)",
      "",
      `${machine()}; nats-server ${fleet.connection.info?.version ?? "?"} on the same machine. The interpreter, signer and signing thread ran from ${compiled ? "the compiled dist/ (as an installed package runs them)" : "the TypeScript sources through tsx (dist/ was not current: run `npm run build` first to measure what users run; the signing thread then boots several times slower)"}. ${ROUNDS} rounds alternating unsigned, signed (signing thread started by the apply), signed (thread running) and pre-signed applies of the same 100k-create plan, bucket purged before each; medians. CPU: the bench process's user + system time during the apply (all its threads, the signing thread included; nats-server's not). Run: \`npx tsx bench/nats-signed.ts\`.`,
      "",
      "| apply | time | relative to unsigned | CPU (process) | relative to unsigned |",
      "|---|---:|---:|---:|---:|",
      `| unsigned | ${fmtMs(unsigned)} | 1.00 | ${fmtMs(median(cpu.unsigned))} | 1.00 |`,
      `| **signed** (Ed25519 JWS per 256 entries, proof in each value; trees signed on a worker thread started per apply) | **${fmtMs(signed)}** | **${ratio.toFixed(2)}** | ${fmtMs(median(cpu.signed))} | ${cpuRatio("signed")} |`,
      `| signed, the signing thread already running (a control plane's later applies) | ${fmtMs(median(times.warm))} | ${(median(times.warm) / unsigned).toFixed(2)} | ${fmtMs(median(cpu.warm))} | ${cpuRatio("warm")} |`,
      `| pre-signed values (signing done before the timing: the cost of the bigger values alone) | ${fmtMs(median(times.presigned))} | ${(median(times.presigned) / unsigned).toFixed(2)} | ${fmtMs(median(cpu.presigned))} | ${cpuRatio("presigned")} |`,
      "",
      `**\`fleet apply\` end to end** (what a user waits for: process start to exit, reading the buckets, planning, printing the plan, signing and writing): ${CLI_DEVICES.toLocaleString("en")} registered devices, the World of bench/fixtures.ts (3 deployments each), every entry created (last line: ${cliLast}); ${CLI_ROUNDS} rounds alternating \`fleet apply --auto-approve\` without and with \`--signing-key\`, bucket purged before each, medians: unsigned ${fmtMs(median(cli.unsigned))}, **signed ${fmtMs(median(cli.signed))} = ${cliRatio.toFixed(2)}×** (rounds: unsigned ${cli.unsigned.map(fmtMs).join(", ")}; signed ${cli.signed.map(fmtMs).join(", ")}). The CLI starts the signing thread once it has the plan, so the thread boots while the plan is printed.`,
      "",
      `Target: signed ≤ 1.5 × unsigned: ${ratio <= 1.5 ? "met" : "NOT met"} by the apply call alone (thread started by the apply), ${median(times.warm) / unsigned <= 1.5 ? "met" : "NOT met"} with the thread running, ${cliRatio <= 1.5 ? "met" : "NOT met"} by \`fleet apply\` end to end. Signed applies whose signing thread was up by their end: ${offThread} of ${2 * ROUNDS}. Failed writes over all rounds: ${failed}. A desired value grows from ${encodeDesiredValue(web, h).length} to ${encodeDesiredValue(web, h, sigs[0]).length} bytes.`,
      "",
      `All rounds: unsigned ${times.unsigned.map(fmtMs).join(", ")}; signed ${times.signed.map(fmtMs).join(", ")}; signed, thread running ${times.warm.map(fmtMs).join(", ")}; pre-signed ${times.presigned.map(fmtMs).join(", ")}. Signed / unsigned within each round: ${times.signed.map((t, i) => (t / (times.unsigned[i] as number)).toFixed(2)).join(", ")}.`,
      "",
      `Device side, per entry (decode the value, verify signature, proof, device, deployment, spec hash, expiry, revision; \`acceptEntry\`, the agent's pure step), ${perEntry.length} entries each from another tree (every one pays an Ed25519 verify; measured after ${warm} for warm-up): one at a time, median ${fmtMs(median(perEntry))}, p90 ${fmtMs(percentile(perEntry, 90))}, p99 ${fmtMs(percentile(perEntry, 99))}; in ${perEntryInBatches.length} batches of ${BATCH}, per entry: wall time median ${fmtMs(median(perEntryInBatches))} (worst batch ${fmtMs(Math.max(...perEntryInBatches))}), CPU time (process) median ${fmtMs(median(cpuPerEntryInBatches))} (worst batch ${fmtMs(Math.max(...cpuPerEntryInBatches))}). Target ≤ 1 ms per entry: ${median(perEntry) <= 1 ? "met" : "NOT met"} one at a time (median), ${median(perEntryInBatches) <= 1 ? "met" : "NOT met"} in batches by wall time, ${median(cpuPerEntryInBatches) <= 1 ? "met" : "NOT met"} by CPU time (wall time over a batch includes the time a busy machine gives other processes).`,
    ].join("\n");
  } finally {
    await stopSigningThread();
    await fleet.close();
    await server.stop();
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${await run()}\n`);
