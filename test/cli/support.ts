/**
 * Running the real `fleet` binary (`node bin/fleet.js …`) as a child process
 * in a temporary workspace, for the end-to-end tests.
 *
 * A workspace is an ES-module package (`"type": "module"`) without a
 * tsconfig.json, so fleet files there resolve `fleet-algebra` through the
 * CLI's own tsconfig, as a checkout-less user's would through node_modules.
 * Each workspace gets its own type-check cache directory. Colours are off
 * unless a test asks for them.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = join(REPO, "bin", "fleet.js");

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Workspace {
  readonly dir: string;
  /** Runs `fleet ARGS` in the workspace. */
  fleet(args: ReadonlyArray<string>, options?: RunOptions): Promise<Result>;
  write(path: string, text: string): Promise<string>;
  cleanup(): Promise<void>;
}

const baseEnv = (): Record<string, string | undefined> => {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ["FORCE_COLOR", "NO_COLOR", "FLEET_BACKEND", "FLEET_STATE_DIR", "FLEET_NATS_URL", "FLEET_NATS_TOKEN", "FLEET_DEBUG", "TSX_TSCONFIG_PATH"]) delete env[k];
  return env;
};

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly input?: string;
  /** Sees stderr as it arrives (all of it so far). */
  readonly onStderr?: (soFar: string) => void;
}

export const run = (args: ReadonlyArray<string>, cwd: string, options: RunOptions = {}): Promise<Result> =>
  new Promise((resolve, reject) => {
    const env = { ...baseEnv(), ...options.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      options.onStderr?.(stderr);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });

export const workspace = async (): Promise<Workspace> => {
  const dir = await mkdtemp(join(tmpdir(), "fleet-cli-"));
  await writeFile(join(dir, "package.json"), `${JSON.stringify({ name: "fleet-cli-test", private: true, type: "module" })}\n`);
  const cache = join(dir, ".cache");
  return {
    dir,
    fleet: (args, options = {}) => run(args, dir, { ...options, env: { FLEET_CACHE_DIR: cache, ...options.env } }),
    write: async (path, text) => {
      const full = join(dir, path);
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, text);
      return full;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
};

/** A small fleet file: `n` prod devices, web on env=prod, metrics everywhere. */
export const fleetFile = (opts: { readonly webImage?: string; readonly devices?: number; readonly extra?: string } = {}): string => `
import { all, assign, deployment, device, podman, world } from "fleet-algebra";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "${opts.webImage ?? "httpd:2.4"}", ports: [{ container: 80, host: 8080 }] }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "node-exporter:1" }] }));

export default world({
  fleet: [${Array.from({ length: opts.devices ?? 3 }, (_, i) => `device("pi-0${i + 1}", { labels: { env: "prod" }, arch: "aarch64" })`).join(", ")}, device("nuc-01", { labels: { env: "dev" }, arch: "x86_64" })],
  assignments: [assign("env=prod", web), assign(all, metrics)${opts.extra ?? ""}],
});
`;

/** Parses JSON lines, failing on any line that is not a JSON object with a type and v. */
export const jsonLines = (text: string): ReadonlyArray<Record<string, unknown> & { type: string; v: number }> =>
  text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      if (typeof o["type"] !== "string" || o["v"] !== 1) throw new Error(`not a v1 JSON line: ${l}`);
      return o as Record<string, unknown> & { type: string; v: number };
    });
