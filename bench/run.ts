/**
 * Runs every benchmark in bench/ and writes their sections to
 * docs/performance.md. `npm run bench` (all) or `npm run bench -- diff nats`
 * (the named ones). Each benchmark module exports `run(): Promise<string>`
 * returning a markdown section with its own same-run baselines.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const NOT_BENCHMARKS = new Set(["run.ts", "fixtures.ts", "report.ts"]);
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !NOT_BENCHMARKS.has(f))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

const sections: string[] = [];
for (const f of files) {
  process.stderr.write(`bench: ${f} …\n`);
  const mod = (await import(path.join(here, f))) as { run?: () => Promise<string> };
  if (typeof mod.run !== "function") throw new Error(`bench/${f} does not export run()`);
  const t0 = Date.now();
  sections.push(await mod.run());
  process.stderr.write(`bench: ${f} done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

const out = path.join(here, "..", "docs", wanted.length === 0 ? "performance.md" : `performance-${wanted.join("-")}.md`);
writeFileSync(
  out,
  ["# Performance", "", "Written by `npm run bench` (bench/run.ts); every figure below comes from that run. Ratios compare against baselines measured in the same run, because these machines are noisy.", "", ...sections.map((s) => `${s}\n`)].join("\n"),
);
process.stderr.write(`bench: wrote ${path.relative(process.cwd(), out)}\n`);
