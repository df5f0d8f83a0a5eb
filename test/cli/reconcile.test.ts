/**
 * `fleet reconcile` as a real process on the local backend: converges and
 * exits 0; drives a staged rollout wave by wave while the devices report
 * (`fleet local simulate` between its steps); exits 1 when a canary fails
 * and the rollout pauses; 2 on a usage error; with `--watch`, SIGTERM stops
 * it between steps, lock released and no temporary file left.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnFleet, type Spawned } from "./pipes.ts";
import { fleetFile, jsonLines, workspace, type Result, type Workspace } from "./support.ts";

/** Runs `fleet ARGS`; once stdout has `lines` lines, sends SIGTERM. */
/**
 * Runs fleet and sends SIGTERM once it printed `lines` lines, unless `finishing` says those lines end the
 * run anyway: a process that printed its last line and is exiting has let go of its signal handlers, and
 * a SIGTERM then ends it by the signal (exit code -1 here), which says nothing about the command.
 */
const runUntil = (ws: Workspace, args: ReadonlyArray<string>, lines: number, finishing: (soFar: string) => boolean = () => false): Promise<Result> => {
  let sent = false;
  const p: Spawned = spawnFleet(ws, args, {
    onStdout: (soFar) => {
      if (!sent && soFar.split("\n").length > lines && !finishing(soFar)) {
        sent = true;
        setImmediate(() => p.kill("SIGTERM"));
      }
    },
  });
  return p.result;
};

const NT = "--no-typecheck";

const staged = (image: string): string => `
import { all, assign, deployment, device, podman, rollout, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "${image}" }] }), { rollout: rollout({ waves: [1, 1], successThreshold: 100 }) });
export default world({
  fleet: [device("pi-01", { labels: { env: "prod" } }), device("pi-02", { labels: { env: "prod" } }), device("pi-03", { labels: { env: "prod" } })],
  assignments: [assign(all, web)],
});
`;

describe("fleet reconcile (local backend)", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("small.ts", fleetFile());
    await ws.write("v1.ts", staged("httpd:1"));
    await ws.write("v2.ts", staged("httpd:2"));
  });
  afterAll(async () => {
    await ws.cleanup();
  });
  const leftovers = (dir: string): string[] => readdirSync(dir).filter((f) => f === "state.lock" || f.endsWith(".tmp"));

  it("converges: applies, then finds nothing to do, exits 0", async () => {
    const dir = `--state-dir=${join(ws.dir, "s1")}`;
    expect((await ws.fleet(["local", "simulate", dir, "small.ts"])).code).toBe(0);
    const r = await ws.fleet(["reconcile", NT, dir, "--interval", "100ms", "small.ts"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/step 1: applied 7 created/);
    expect(r.stdout).toContain("Converged");
  });

  it("usage errors exit 2", async () => {
    const r = await ws.fleet(["reconcile", NT, "--interval", "soon", "small.ts"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--interval");
  });

  it("drives a staged rollout wave by wave as devices report; a failing canary pauses it: exit 1", async () => {
    const s = join(ws.dir, "s2");
    const dir = `--state-dir=${s}`;
    const until = async (file: string, fail: ReadonlyArray<string> = []): Promise<{ code: number | null; steps: ReturnType<typeof jsonLines> }> => {
      const steps: Array<ReturnType<typeof jsonLines>[number]> = [];
      for (let i = 0; i < 8; i++) {
        expect((await ws.fleet(["local", "simulate", dir, ...fail.flatMap((f) => ["--fail", f]), file])).code).toBe(0);
        // One step per run: reconcile until converged, or the run ends after its first step (no --watch, short interval, killed below).
        const r = await runUntil(ws, ["reconcile", NT, dir, "--json", "--interval", "10m", file], 1, (soFar) => /"verdict":"(converged|aborted)"/.test(soFar));
        const lines = jsonLines(r.stdout);
        steps.push(...lines);
        if (r.code !== 0 || lines.some((l) => l["verdict"] === "converged")) return { code: r.code, steps };
      }
      return { code: null, steps };
    };
    const v1 = await until("v1.ts");
    expect(v1.code).toBe(0);
    const v2 = await until("v2.ts");
    expect(v2.code).toBe(0);
    // Three waves of one device: the rollout took at least three steps with applies.
    expect(v2.steps.filter((l) => l["result"] === "Completed").length).toBeGreaterThanOrEqual(3);
    const v3 = await until("v1.ts", ["pi-01.web", "pi-02.web", "pi-03.web"]);
    expect(v3.code).toBe(1);
    expect(JSON.stringify(v3.steps.at(-1))).toMatch(/"state":"(Paused|RolledBack)"/);
    expect(leftovers(s)).toEqual([]);
  }, 120_000);

  it("--watch: SIGTERM stops it between steps, exit 0, lock released, no temporary file", async () => {
    const s = join(ws.dir, "s3");
    const dir = `--state-dir=${s}`;
    expect((await ws.fleet(["local", "simulate", dir, "small.ts"])).code).toBe(0);
    // Killed once the second step printed (each step prints its line): it stops before or after a third.
    const r = await runUntil(ws, ["reconcile", NT, dir, "--watch", "--interval", "200ms", "small.ts"], 2);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/step 2: nothing to apply/);
    expect(r.stdout).not.toContain("Converged");
    expect(r.stderr).toContain("Stopped by SIGTERM");
    expect(leftovers(s)).toEqual([]);
  }, 60_000);
});
