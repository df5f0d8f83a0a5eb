/**
 * Exit paths of the real `fleet` process on the local backend: a reader that
 * goes away (stderr closed during `apply --progress`, stdout closed after the
 * first line of `plan`), and SIGTERM while an apply holds the lock. Each must
 * end quietly (no stack trace, no `write EPIPE`), release the lock (the next
 * apply proceeds), and leave the state either the previous or the new one.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bigFleet, noCrash, spawnFleet } from "./pipes.ts";
import { workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

describe("fleet exit paths (local backend)", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("small.ts", bigFleet(3, "httpd:1"));
    await ws.write("small2.ts", bigFleet(3, "httpd:2"));
    await ws.write("big.ts", bigFleet(40_000, "httpd:1"));
    await ws.write("big2.ts", bigFleet(40_000, "httpd:2"));
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  const stateDir = (name: string): string => join(ws.dir, name);
  const leftovers = (dir: string): string[] => readdirSync(dir).filter((f) => f === "state.lock" || f.endsWith(".tmp"));

  it("apply --progress with stderr closed: applies, exits 0, releases the lock; the next apply proceeds", async () => {
    const dir = "--state-dir=" + stateDir("s1");
    const first = await spawnFleet(ws, ["apply", NT, "--auto-approve", "--progress", dir, "small.ts"], { closeStderr: true }).result;
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("Apply complete!");
    expect(leftovers(stateDir("s1"))).toEqual([]);
    const second = await ws.fleet(["apply", NT, "--auto-approve", "--progress", dir, "small2.ts"]);
    expect(second.stderr).not.toContain("locked");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("3 updated");
  }, 60_000);

  it("plan with stdout closed after its first line (| head -1): no EPIPE, no stack trace", async () => {
    const r = await spawnFleet(ws, ["plan", NT, "--state-dir=" + stateDir("s2"), "big.ts"], { closeStdoutAfterFirst: true }).result;
    noCrash(r.stderr);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 60_000);

  it("SIGTERM while apply holds the lock: exits 143 quietly, releases the lock, state is the previous or the new", async () => {
    const dir = stateDir("s3");
    const seeded = await ws.fleet(["apply", NT, "--auto-approve", "--state-dir=" + dir, "small.ts"]);
    expect(seeded.code).toBe(0);
    const lock = join(dir, "state.lock");
    const p = spawnFleet(ws, ["apply", NT, "--auto-approve", "--state-dir=" + dir, "big.ts"]);
    // Signal as soon as the lock appears (the big apply holds it for a while).
    let sent = false;
    const started = Date.now();
    while (!sent && Date.now() - started < 60_000) {
      if (existsSync(lock)) {
        p.kill("SIGTERM");
        sent = true;
      } else await new Promise((r) => setTimeout(r, 2));
    }
    expect(sent).toBe(true);
    const r = await p.result;
    noCrash(r.stderr);
    expect(r.code).toBe(143);
    expect(r.stderr).toContain("Interrupted by SIGTERM; releasing the state lock.");
    expect(leftovers(dir).filter((f) => f === "state.lock")).toEqual([]);
    // The state is whole: planning against it works, and shows either the previous state (everything but
    // the three seeded devices' entries to create) or the new one (nothing to do).
    const plan = await ws.fleet(["plan", NT, "--state-dir=" + dir, "big.ts"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/Plan: 79994 to create, 0 to update, 0 to delete\.|No changes\./);
    // And the lock is free for the next apply.
    const next = await ws.fleet(["apply", NT, "--auto-approve", "--state-dir=" + dir, "small2.ts"]);
    expect(next.stderr).not.toContain("locked");
    expect(next.code).toBe(0);
  }, 120_000);
});
