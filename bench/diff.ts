/**
 * Full diff benchmark: 10k, 100k and 1M devices, 20 assignments, 1 % drift.
 *
 * Measured in the same run, each in its own child process (so peak RSS is
 * that measurement's own):
 * - `fleet`: `diff(world, reality, { now })`, selector evaluation included;
 * - `floor`: a loop that only compares precomputed desired keys and hashes
 *   against published ones in Maps of the same size;
 * - `microdiff`: desired and actual state documents
 *   (`{ [device]: { [deployment]: hash } }`) diffed with microdiff, the
 *   documents precomputed (selector evaluation not counted);
 * - `pipeline`: what a user would otherwise write end to end: build the
 *   desired document by evaluating each assignment on each device (compiled
 *   selectors, highest priority wins, no caching), build the actual document
 *   from Reality, and diff them with microdiff.
 *
 * Run: `npm run bench` (all benchmarks) or `npx tsx bench/diff.ts` (this one).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import microdiff from "microdiff";
import * as O from "fp-ts/lib/Option.js";
import { diff } from "../src/diff/Diff.ts";
import { compile } from "../src/selectors/Selector.ts";
import { specHash } from "../src/algebra/Deployment.ts";
import { benchReality, benchWorld, entryCount, NOW } from "./fixtures.ts";
import { machine, median, fmtMs } from "./report.ts";

type Mode = "fleet" | "floor" | "microdiff" | "pipeline";
interface ChildResult {
  readonly mode: Mode;
  readonly size: number;
  readonly ms: number[];
  readonly rssMiB: number;
  readonly entries: number;
  readonly actions: number;
}

const SIZES = [10_000, 100_000, 1_000_000];
const runsFor = (size: number): number => (size >= 1_000_000 ? 3 : size >= 100_000 ? 5 : 15);

const timed = (f: () => number): { ms: number; result: number } => {
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = process.hrtime.bigint();
  const result = f();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
};

const child = (mode: Mode, size: number): ChildResult => {
  const w = benchWorld(size);
  const r = benchReality(w);
  const entries = entryCount(r);
  const runs = runsFor(size);
  const ms: number[] = [];
  let actions = 0;
  if (mode === "fleet") {
    for (let i = 0; i < runs; i++) {
      const t = timed(() => diff(w, r, { now: NOW }).actions.length);
      ms.push(t.ms);
      actions = t.result;
    }
  } else {
    // Precompute what the floor and microdiff are handed: desired and published keys -> hashes.
    const converged = diff(w, { ...r, desired: new Map() }, { now: NOW });
    if (mode === "floor") {
      const desired = new Map<string, string>();
      for (const a of converged.actions) if (a._tag !== "Delete") desired.set(`${a.device}.${a.deployment}`, a.specHash);
      const published = new Map<string, string>();
      for (const [id, m] of r.desired) for (const [name, e] of m) published.set(`${id}.${name}`, e.specHash);
      for (let i = 0; i < runs; i++) {
        const t = timed(() => {
          let n = 0;
          for (const [k, h] of desired) {
            const p = published.get(k);
            if (p === undefined || p !== h) n++;
          }
          for (const k of published.keys()) if (!desired.has(k)) n++;
          return n;
        });
        ms.push(t.ms);
        actions = t.result;
      }
    } else if (mode === "pipeline") {
      const compiled = w.assignments.map((a) => ({ a, p: compile(a.selector) }));
      const fleet = O.isSome(w.fleet) ? w.fleet.value.devices : [];
      for (let i = 0; i < Math.min(runs, 3); i++) {
        const t = timed(() => {
          const desired: Record<string, Record<string, string>> = {};
          for (const d of fleet) {
            const doc: Record<string, string> = {};
            const prio: Record<string, number> = {};
            for (const { a, p } of compiled) {
              if (!p(d)) continue;
              for (const dep of a.deployments) {
                if ((prio[dep.name] ?? -Infinity) <= a.priority) {
                  prio[dep.name] = a.priority;
                  doc[dep.name] = specHash(dep);
                }
              }
            }
            desired[d.id] = doc;
          }
          const actual: Record<string, Record<string, string>> = {};
          for (const [id, m] of r.desired) {
            const doc: Record<string, string> = {};
            for (const [name, e] of m) doc[name] = e.specHash;
            actual[id] = doc;
          }
          return microdiff(actual, desired).length;
        });
        ms.push(t.ms);
        actions = t.result;
      }
    } else {
      const desired: Record<string, Record<string, string>> = {};
      for (const a of converged.actions) if (a._tag !== "Delete") (desired[a.device] ??= {})[a.deployment] = a.specHash;
      const actual: Record<string, Record<string, string>> = {};
      for (const [id, m] of r.desired) for (const [name, e] of m) (actual[id] ??= {})[name] = e.specHash;
      for (let i = 0; i < Math.min(runs, 3); i++) {
        const t = timed(() => microdiff(actual, desired).length);
        ms.push(t.ms);
        actions = t.result;
      }
    }
  }
  return { mode, size, ms, rssMiB: process.resourceUsage().maxRSS / 1024, entries, actions };
};

const spawnChild = (mode: Mode, size: number): ChildResult => {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ["--expose-gc", "--max-old-space-size=6144", "--import", "tsx", self, "--child", mode, String(size)], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`bench child ${mode} ${size} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() as string) as ChildResult;
};

export async function run(): Promise<string> {
  const rows: string[] = [];
  const verdicts: string[] = [];
  for (const size of SIZES) {
    const f = spawnChild("fleet", size);
    const floor = spawnChild("floor", size);
    const micro = spawnChild("microdiff", size);
    const pipe = spawnChild("pipeline", size);
    const fm = median(f.ms);
    const floorMs = median(floor.ms);
    const microMs = median(micro.ms);
    const pipeMs = median(pipe.ms);
    rows.push(
      `| ${size.toLocaleString("en")} | ${f.entries.toLocaleString("en")} | ${f.actions.toLocaleString("en")} | ${fmtMs(fm)} | ${fmtMs(floorMs)} | ${(fm / floorMs).toFixed(2)}× | ${fmtMs(microMs)} | ${(microMs / fm).toFixed(2)}× | ${fmtMs(pipeMs)} | ${(pipeMs / fm).toFixed(1)}× | ${f.rssMiB.toFixed(0)} MiB |`,
    );
    if (size === 1_000_000) {
      verdicts.push(
        `- 1M devices in at most 3 s: **${fm <= 3000 ? "met" : "missed"}** (${fmtMs(fm)}).`,
        `- Within 4× of the floor: **${fm / floorMs <= 4 ? "met" : "missed"}** (${(fm / floorMs).toFixed(2)}×).`,
        `- At least 5× faster than the microdiff baseline: end to end (what a user would otherwise write) **${pipeMs / fm >= 5 ? "met" : "missed"}** (${(pipeMs / fm).toFixed(1)}×); against microdiff alone on precomputed documents **${microMs / fm >= 5 ? "met" : "missed"}** (${(microMs / fm).toFixed(2)}×).`,
        `- Peak RSS at most 2 GiB: **${f.rssMiB <= 2048 ? "met" : "missed"}** (${f.rssMiB.toFixed(0)} MiB, whole process: fixtures, World and Reality included).`,
      );
    }
  }
  return [
    "## Full diff",
    "",
    `${machine()}. 20 assignments (label, arch and kubectl-syntax selectors, one priority override), Reality converged then 1 % of entries perturbed (stale spec, missing, extra). Median of ${runsFor(1_000_000)}–${runsFor(10_000)} runs; each column measured in its own process in the same run.`,
    "",
    "| devices | published entries | actions | `diff` | floor (Map compare) | diff / floor | microdiff alone (docs precomputed) | microdiff / diff | user pipeline (evaluate + microdiff) | pipeline / diff | peak RSS (diff process) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    ...verdicts,
    "",
    "The floor and microdiff are handed precomputed desired keys and hashes; `diff` evaluates every selector on every device itself (with a cache of resolutions per match signature).",
    "",
    "Why the microdiff target is missed: microdiff here compares two documents that already hold the answer, per-device objects of one shape, and on this data it is faster than even the floor's Map compare. Being 5× faster than that while also evaluating 20 selectors per device and building typed actions is not reachable by a diff that has to look at each device; the fair comparison is the end-to-end pipeline a user would write (evaluate the assignments, then microdiff), which `diff` beats by the factor in the table. What `diff` does that microdiff does not: priorities and conflict detection, damaged and conflicted devices left alone, canonical order, and actions carrying the fingerprints that compare-and-set needs.",
  ].join("\n");
}

if (process.argv[2] === "--child") {
  const result = child(process.argv[3] as Mode, Number(process.argv[4]));
  console.log(JSON.stringify(result));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await run());
}
