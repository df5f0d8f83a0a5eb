/**
 * End to end on the local backend: the real `fleet` command, process start to
 * exit, on a generated state directory of 100k and 1M registered devices (a
 * World of 20 assignments and no declared fleet, 3 deployments per device).
 *
 * Measured in the same run, each in its own process (wall time and peak RSS
 * from `/usr/bin/time`):
 * - baseline: the pure `diff` of the same World and Reality, built in memory
 *   (median of 3), which `fleet plan` must stay within 3× of end to end;
 * - `fleet plan` with 1 % drift (every 100th entry at a stale spec);
 * - `fleet apply` of that drift, then `fleet plan` again ("No changes."),
 *   alternated with a fresh baseline process, `BENCH_E2E_ROUNDS` times
 *   (default 3): medians;
 * - the first `fleet apply` onto devices that are only registered (every
 *   entry created).
 *
 * Run: `npm run bench -- local-e2e`, or `npx tsx bench/local-e2e.ts` for this
 * one alone (`BENCH_E2E_SIZES=100000` to pick sizes).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { diff } from "../src/diff/Diff.ts";
import { emptyReality } from "../src/diff/Reality.ts";
import type { World } from "../src/world/World.ts";
import { specStore } from "../src/interpreters/local/SpecStore.ts";
import { emptyState, saveState } from "../src/interpreters/local/StateFile.ts";
import { devices, e2eFleetFile, registeredReality } from "./fixtures.ts";
import { fmtMs, machine, median } from "./report.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const FLEET = join(here, "..", "bin", "fleet.js");
const SIZES = (process.env["BENCH_E2E_SIZES"] ?? "100000,1000000").split(",").map(Number);
const DRIFT = 100;
const OFFLINE_AFTER = "24h";
const ROUNDS = Number(process.env["BENCH_E2E_ROUNDS"] ?? 3);

interface Timed {
  readonly ms: number;
  readonly rssMiB: number;
  readonly code: number;
  readonly stdoutTail: string;
}

/** Runs a command under /usr/bin/time: wall time and peak RSS of the whole process. */
const timedRun = (cmd: string, args: ReadonlyArray<string>, cwd: string): Timed => {
  const t0 = process.hrtime.bigint();
  // What bin/fleet.js runs: dist/ when `npm run build` made it current (an installed package), else the sources.
  const r = spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...args], { cwd, encoding: "utf8", maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const lines = r.stderr.trim().split("\n");
  const rssKiB = Number(lines[lines.length - 1]);
  if (r.status !== 0 && r.status !== 2) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return { ms, rssMiB: rssKiB / 1024, code: r.status ?? -1, stdoutTail: r.stdout.trim().split("\n").slice(-1)[0] ?? "" };
};

const child = (mode: string, ...args: string[]): string => {
  const r = spawnSync(process.execPath, ["--max-old-space-size=4096", "--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), mode, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench child ${mode} failed: ${r.stderr.slice(-2000)}`);
  return r.stdout.trim();
};

const worldOf = async (dir: string, n: number) => {
  const fleet = devices(n);
  // The file the CLI loads, but importing this process's copy of the library.
  const world = ((await import(join(dir, "world.ts"))) as { default: World }).default;
  return { fleet, world };
};

/** Child: writes the state directory (registered devices; entries too unless `registered-only`). */
const generate = async (dir: string, n: number, what: string): Promise<void> => {
  const { fleet, world } = await worldOf(dir, n);
  const base = emptyState();
  const at = new Date();
  const { reality, revision } = registeredReality(world, fleet, at, DRIFT, base.lineage.slice(0, 8));
  const state = what === "registered-only" ? { ...base, serial: 1, reality: { ...reality, desired: emptyReality.desired } } : { ...base, serial: 1, revision, reality };
  await saveState(join(dir, ".fleet"), state, specStore(join(dir, ".fleet")));
};

/** Child: the pure diff of the same inputs, median of 3, in ms. */
const pureDiff = async (dir: string, n: number): Promise<number> => {
  const { fleet, world } = await worldOf(dir, n);
  const { reality } = registeredReality(world, fleet, new Date(), DRIFT, "bench000");
  const ms: number[] = [];
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const t0 = process.hrtime.bigint();
    diff(world, reality, { now: new Date(), offlineAfterMs: 24 * 3600_000 });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
};

const mode = process.argv[2];
if (mode === "generate") {
  await generate(process.argv[3] as string, Number(process.argv[4]), process.argv[5] ?? "converged");
} else if (mode === "diff") {
  process.stdout.write(`${await pureDiff(process.argv[3] as string, Number(process.argv[4]))}\n`);
}

const compiledNote = (): string =>
  existsSync(join(here, "..", "dist", "cli", "main.js")) && process.env["FLEET_FROM_SOURCE"] !== "1" ? "the compiled dist/ when current, as an installed package runs" : "the sources through tsx";

const row = (label: string, t: Timed, base: number): string =>
  `| ${label} | ${fmtMs(t.ms)} | ${(t.ms / base).toFixed(2)}× | ${t.rssMiB.toFixed(0)} MiB | ${t.stdoutTail.replace(/\|/g, "\\|").slice(0, 60)} |`;

export const run = async (): Promise<string> => {
  const rows: string[] = [];
  const verdicts: string[] = [];
  const rounds: string[] = [];
  for (const n of SIZES) {
    const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-"));
    try {
      // The same World twice: for the CLI (through its tsconfig's `fleet-algebra`) and for the baseline process.
      writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name: "fleet-e2e-bench", private: true, type: "module" })}\n`);
      writeFileSync(join(dir, "fleet.ts"), e2eFleetFile("fleet-algebra"));
      writeFileSync(join(dir, "world.ts"), e2eFleetFile(join(here, "..", "src", "index.ts")));
      process.stderr.write(`local-e2e: ${n} devices: generating …\n`);
      child("generate", dir, String(n));
      const base = Number(child("diff", dir, String(n)));
      const fleet = (cmd: string, ...rest: string[]): Timed =>
        timedRun(process.execPath, [FLEET, cmd, "--no-typecheck", "--offline-after", OFFLINE_AFTER, ...rest, "fleet.ts"], dir);
      const plan = fleet("plan");
      const apply = fleet("apply", "--auto-approve");
      // The "No changes" plan against its baseline, alternated, ROUNDS times: medians.
      const bases = [base];
      const agains = [fleet("plan")];
      for (let i = 1; i < ROUNDS; i++) {
        bases.push(Number(child("diff", dir, String(n))));
        agains.push(fleet("plan"));
      }
      const again = agains.slice().sort((a, b) => a.ms - b.ms)[Math.floor(agains.length / 2)] as Timed;
      const againBase = median(bases);
      rounds.push(`${n.toLocaleString("en")} devices, "No changes" rounds: pure diff ${bases.map(fmtMs).join(", ")}; plan ${agains.map((t) => `${fmtMs(t.ms)} (${t.rssMiB.toFixed(0)} MiB)`).join(", ")}.`);
      rmSync(join(dir, ".fleet"), { recursive: true });
      child("generate", dir, String(n), "registered-only");
      const first = fleet("apply", "--auto-approve");
      rows.push(`| **${n.toLocaleString("en")} devices** | pure diff (baseline) ${fmtMs(againBase)} | 1× | | |`);
      rows.push(row("`fleet plan`, 1 % drift", plan, againBase));
      rows.push(row("`fleet apply` of the drift", apply, againBase));
      rows.push(row(`\`fleet plan\` after it ("No changes."), median of ${ROUNDS}`, again, againBase));
      rows.push(row("first `fleet apply` (every entry created)", first, againBase));
      if (n >= 1_000_000) {
        const ok = (b: boolean): string => (b ? "**met**" : "**missed**");
        verdicts.push(`- \`fleet plan\` "No changes" at ${n.toLocaleString("en")} devices within 3× the pure diff: ${ok(again.ms <= 3 * againBase)} (${(again.ms / againBase).toFixed(2)}×); within 2 GiB: ${ok(again.rssMiB <= 2048)} (${again.rssMiB.toFixed(0)} MiB).`);
        verdicts.push(`- first \`fleet apply\` of ${n.toLocaleString("en")} devices within 2 GiB: ${ok(first.rssMiB <= 2048)} (${first.rssMiB.toFixed(0)} MiB, ${fmtMs(first.ms)}).`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return [
    "## Local backend, end to end",
    "",
    `${machine()}. \`bench/local-e2e.ts\`: the real \`fleet\` command (\`node bin/fleet.js … --no-typecheck\`: ${compiledNote()}), process start to exit, on generated state directories: registered devices, a World of 20 assignments with no declared fleet, 3 deployments per device, 1 % drift. The baseline is the pure \`diff\` of the same World and Reality in memory, measured in the same run. Peak RSS is the whole process's (\`/usr/bin/time\`).`,
    "",
    "| command | wall time | × pure diff | peak RSS | last line of output |",
    "|---|---|---|---|---|",
    ...rows,
    "",
    ...verdicts,
    "",
    ...rounds,
  ].join("\n");
};

if (mode === undefined && process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${await run()}\n`);
