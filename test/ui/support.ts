/**
 * The demo fleet on the local backend in a temporary workspace, and `fleet ui`
 * run as a real child process on a free loopback port (`--port 0`), stopped
 * by its PID with SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BIN, REPO, workspace, type Workspace } from "../cli/support.ts";

export interface Ui {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, then the exit code and everything it printed. */
  stop(): Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/** Starts `fleet ui ARGS --port 0` in `cwd`; resolves once it printed its URL. */
export const startUi = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Ui> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "ui", "--port", "0", ...args], { cwd, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    let stdout = "";
    let stderr = "";
    let started = false;
    const exited = new Promise<number | null>((done) =>
      child.on("close", (code) => {
        live.delete(child);
        done(code);
      }),
    );
    const deadline = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fleet ui printed no URL within 60s; stderr: ${stderr}`));
    }, 60_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      const m = /Dashboard: (\S+)/.exec(stdout);
      if (m !== null && !started) {
        started = true;
        clearTimeout(deadline);
        resolve({
          url: m[1] as string,
          pid: child.pid as number,
          stop: async () => {
            child.kill("SIGTERM");
            const code = await exited;
            return { code, stdout, stderr };
          },
        });
      }
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    void exited.then((code) => {
      clearTimeout(deadline);
      if (!started) reject(new Error(`fleet ui exited with ${code} before printing a URL: ${stderr}`));
    });
  });

/**
 * A workspace with `demo.ts` (fleets/demo.ts) applied to `.fleet/`, and one
 * simulated round of agents: pi-03 fails web, vm-01 stays offline.
 */
export const demoWorkspace = async (): Promise<Workspace> => {
  const ws = await workspace();
  await ws.write("demo.ts", await readFile(join(REPO, "fleets", "demo.ts"), "utf8"));
  const check = async (args: ReadonlyArray<string>): Promise<void> => {
    const r = await ws.fleet(args);
    if (r.code !== 0) throw new Error(`fleet ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  };
  await check(["apply", "--auto-approve", "--no-typecheck", "demo.ts"]);
  await check(["local", "simulate", "--fail", "pi-03.web=image pull failed: manifest unknown", "--offline", "vm-01", "demo.ts"]);
  return ws;
};
