/**
 * `npm ci` on the supported Node prints no warning: no engine mismatch (the
 * NATS client's `@nats-io/nuid` 3 wants Node 22; package.json overrides it
 * with 2.0.3, the same API for Node 18+) and no install script left
 * unreviewed (esbuild's postinstall is denied in `allowScripts`: tsx finds
 * esbuild's binary through its platform package without it).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { REPO } from "./support.ts";

const run = promisify(execFile);

describe("clean installs", () => {
  it("npm ci (dry run, from the lockfile) warns about nothing", { timeout: 120_000 }, async () => {
    const { stdout, stderr } = await run("npm", ["ci", "--dry-run", "--no-audit", "--no-fund"], { cwd: REPO, env: { ...process.env, npm_config_loglevel: "warn" } });
    const out = `${stdout}\n${stderr}`;
    expect(out).not.toMatch(/EBADENGINE/);
    expect(out).not.toMatch(/install-scripts|allowScripts/);
    expect(out).not.toMatch(/npm warn/i);
  });

  it("every installed package accepts this Node (engines)", { timeout: 120_000 }, async () => {
    const { stdout } = await run("npm", ["ls", "--all", "--json", "--long"], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
    const seen: string[] = [];
    const walk = (deps: Record<string, { version?: string; engines?: { node?: string }; dependencies?: Record<string, unknown> }> | undefined): void => {
      for (const [name, d] of Object.entries(deps ?? {})) {
        const wanted = d.engines?.node;
        if (wanted !== undefined && /^>=?\s*2[2-9]/.test(wanted.trim())) seen.push(`${name}@${d.version ?? "?"} wants node ${wanted}`);
        walk(d.dependencies as never);
      }
    };
    walk((JSON.parse(stdout) as { dependencies?: never }).dependencies);
    expect(seen).toEqual([]);
  });
});
