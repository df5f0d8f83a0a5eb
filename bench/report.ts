/** Shared bits of benchmark reports: machine facts, medians, formatting. */
import { readdirSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const machine = (): string =>
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};

export const fmtMs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

/**
 * Whether dist/ was built after the last change to src/ (the rule bin/fleet.js follows): a
 * benchmark of what an installed package runs loads dist/ then, the sources otherwise.
 */
export const distIsCurrent = (): boolean => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  let built: number;
  try {
    built = statSync(join(root, "dist", "index.js")).mtimeMs;
  } catch {
    return false;
  }
  const newer = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? newer(join(dir, e.name)) : e.name.endsWith(".ts") && statSync(join(dir, e.name)).mtimeMs > built));
  return process.env["FLEET_FROM_SOURCE"] !== "1" && !newer(join(root, "src"));
};

/** A module of the package, from dist/ when current (as an installed package runs), else from the sources. */
export const packageModule = async <M>(rel: string): Promise<M> => {
  const root = new URL("..", import.meta.url);
  return (await import(new URL(distIsCurrent() ? `dist/${rel}.js` : `src/${rel}.ts`, root).href)) as M;
};
