/**
 * Start-up of the `fleet` command: wall time, process start to exit, of
 * `fleet --version` and `fleet plan fleets/demo.ts --no-typecheck` (warm
 * caches: one unmeasured run first), against bare `node -e 0` in the same
 * run. Both ways `bin/fleet.js` runs: the compiled CLI in dist/ (when
 * `npm run build` made it current) and the sources through tsx
 * (`FLEET_FROM_SOURCE=1`, a checkout being edited).
 *
 * Run: `npm run bench -- startup`, or `npx tsx bench/startup.ts`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmtMs, machine, median } from "./report.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FLEET = join(ROOT, "bin", "fleet.js");
const RUNS = 9;

const wall = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): number => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: "ignore" });
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

const measure = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): number => {
  wall(args, env);
  return median(Array.from({ length: RUNS }, () => wall(args, env)));
};

export const run = async (): Promise<string> => {
  const state = mkdtempSync(join(tmpdir(), "fleet-startup-"));
  try {
    const node = measure(["-e", "0"]);
    const plan = [FLEET, "plan", "--no-typecheck", "--state-dir", state, "fleets/demo.ts"];
    const compiled = existsSync(join(ROOT, "dist", "cli", "main.js"));
    const rows: Array<readonly [string, number]> = [["`node -e 0` (baseline)", node]];
    const modes: Array<readonly [string, Record<string, string>]> = [["sources through tsx", { FLEET_FROM_SOURCE: "1" }]];
    if (compiled) modes.unshift(["compiled dist/", {}]);
    const verdicts: string[] = [];
    for (const [mode, env] of modes) {
      const version = measure([FLEET, "--version"], env);
      const demo = measure(plan, env);
      rows.push([`\`fleet --version\`, ${mode}`, version], [`\`fleet plan fleets/demo.ts --no-typecheck\`, ${mode}`, demo]);
      verdicts.push(`- ${mode}: \`--version\` ${fmtMs(version)} (${(version / node).toFixed(1)}× bare node), \`plan\` ${fmtMs(demo)} (${(demo / node).toFixed(1)}×).`);
    }
    return [
      "## Start-up",
      "",
      `${machine()}. \`bench/startup.ts\`: median of ${RUNS} runs after one warm-up, process start to exit.${compiled ? "" : " dist/ was not built in this run (`npm run build`), so only the sources were measured."}`,
      "",
      "| command | wall time | × bare node |",
      "|---|---|---|",
      ...rows.map(([what, ms]) => `| ${what} | ${fmtMs(ms)} | ${(ms / node).toFixed(1)}× |`),
      "",
      "Targets (on an idle machine, where bare node starts in about 0.04 s): `--version` at most 0.12 s (3× bare node), `plan` of the demo at most 0.35 s (about 9×).",
      "",
      ...verdicts,
    ].join("\n");
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(`${await run()}\n`);
