/**
 * Running the real `fleet` process with pipes the test may close (a reader
 * that goes away) or a signal it may send, for the exit-path tests of the
 * local and NATS backends.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import { BIN, type Result, type Workspace } from "./support.ts";

export interface PipeOptions {
  /** Close our end of its stderr at once (a reader that went away). */
  readonly closeStderr?: boolean;
  /** Close our end of its stdout after the first chunk, keeping its first line (like `| head -1`). */
  readonly closeStdoutAfterFirst?: boolean;
  readonly onStderr?: (soFar: string) => void;
  /** Sees stdout as it arrives (all of it so far). */
  readonly onStdout?: (soFar: string) => void;
}

export interface Spawned {
  readonly result: Promise<Result>;
  readonly kill: (signal: NodeJS.Signals) => void;
}

/** Runs `fleet ARGS` in the workspace; `kill` sends it a signal. */
export const spawnFleet = (ws: Workspace, args: ReadonlyArray<string>, o: PipeOptions = {}): Spawned => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("FLEET_") && k !== "FORCE_COLOR") env[k] = v;
  env["FLEET_CACHE_DIR"] = join(ws.dir, ".cache");
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ws.dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  if (o.closeStderr === true) child.stderr.destroy();
  else
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      o.onStderr?.(stderr);
    });
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    if (o.closeStdoutAfterFirst === true) {
      stdout += d.split("\n")[0];
      child.stdout.destroy();
    } else {
      stdout += d;
      o.onStdout?.(stdout);
    }
  });
  const result = new Promise<Result>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal !== null ? -1 : null), stdout, stderr }));
  });
  return { result, kill: (s) => child.kill(s) };
};

export const bigFleet = (devices: number, image: string): string => `
import { assign, deployment, device, podman, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "${image}" }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "node-exporter:1" }] }));
export default world({
  fleet: Array.from({ length: ${devices} }, (_, i) => device(\`d-\${i}\`, { labels: { env: "prod" } })),
  assignments: [assign("env=prod", web), assign("env=prod", metrics)],
});
`;

/** No sign of a crash: no EPIPE, no stream error, no stack frame. */
export const noCrash = (stderr: string): void => {
  expect(stderr).not.toMatch(/EPIPE|ERR_STREAM|\n\s+at /);
};
