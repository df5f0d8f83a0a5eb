/**
 * The package works where users install it: `npm pack`, the tarball
 * installed into a scratch project WITHOUT `"type": "module"` and without a
 * tsconfig.json, a plain `fleets/prod.ts` importing "fleet-algebra". There
 * `npx fleet validate` and `npx fleet plan` type-check and run it (a type
 * error is caught, so the check really runs), and `npx fleet apply` (what
 * `npx tsx apply fleets/prod.ts` does in a checkout, docs/cli.md) applies it.
 *
 * Dependencies come from the local npm cache (`--offline`); when the cache
 * lacks one, npm may fetch it (`--prefer-offline`), as CI does on its first
 * run. Slow by nature (it builds dist/ and installs 90 packages): one test.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { REPO } from "./support.ts";

const exec = promisify(execFile);

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const run = async (cmd: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}): Promise<Ran> => {
  try {
    const { stdout, stderr } = await exec(cmd, [...args], { cwd, env: { ...process.env, NO_COLOR: "1", ...env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
};

const PROD = `import { all, assign, deployment, device, podman, world } from "fleet-algebra";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4", ports: [{ container: 80, host: 8080 }] }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "node-exporter:1" }] }));

export default world({
  fleet: [device("pi-01", { labels: { env: "prod" }, arch: "aarch64" }), device("nuc-01", { labels: { env: "dev" }, arch: "x86_64" })],
  assignments: [assign("env=prod", web), assign(all, metrics)],
});
`;

const TYPO = `import { assign, deployment, podman, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));
export default world({ assignments: [assign("env=prod", web, { priorty: 10 })] });
`;

describe("the packed package, installed into a project", () => {
  let scratch: string | undefined;
  afterAll(async () => {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it("npx fleet validate / plan / apply a plain fleets/prod.ts in a project without \"type\": \"module\"", { timeout: 900_000 }, async () => {
    scratch = await mkdtemp(join(tmpdir(), "fleet-packed-"));
    const packed = await run("npm", ["pack", "--pack-destination", scratch, "--silent"], REPO);
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = join(scratch, (await readdir(scratch)).find((f) => f.endsWith(".tgz")) as string);

    const project = join(scratch, "infra");
    await mkdir(join(project, "fleets"), { recursive: true });
    await writeFile(join(project, "package.json"), `${JSON.stringify({ name: "infra", version: "1.0.0", private: true })}\n`);
    const flags = ["--no-audit", "--no-fund", "--no-save"];
    let installed = await run("npm", ["install", "--offline", ...flags, tarball], project);
    if (installed.code !== 0 && /ENOTCACHED/.test(installed.stderr)) installed = await run("npm", ["install", "--prefer-offline", ...flags, tarball], project);
    expect(installed.code, installed.stderr).toBe(0);

    await writeFile(join(project, "fleets", "prod.ts"), PROD);
    await writeFile(join(project, "fleets", "typo.ts"), TYPO);
    const env = { FLEET_CACHE_DIR: join(scratch, "cache") };

    const valid = await run("npx", ["fleet", "validate", "fleets/prod.ts"], project, env);
    expect(valid.stderr).toBe("");
    expect(valid.stdout).toMatch(/✓ type check/);
    expect(valid.code).toBe(0);

    const typo = await run("npx", ["fleet", "validate", "fleets/typo.ts"], project, env);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^fleets\/typo\.ts:3:\d+: error TS\d+: .*'priorty'/m);

    const plan = await run("npx", ["fleet", "plan", "fleets/prod.ts"], project, env);
    expect(plan.stderr).toBe("");
    expect(plan.stdout).toContain("Plan: 3 to create, 0 to update, 0 to delete.");
    expect(plan.code).toBe(0);

    const apply = await run("npx", ["fleet", "apply", "--auto-approve", "fleets/prod.ts"], project, env);
    expect(apply.stderr).toBe("");
    expect(apply.code).toBe(0);
    const again = await run("npx", ["fleet", "plan", "--detailed-exitcode", "fleets/prod.ts"], project, env);
    expect(again.code).toBe(0);
  });
});
