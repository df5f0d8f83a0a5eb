/**
 * The local backend's state directory: the lock (held by another process,
 * `--lock-timeout`, `force-unlock`), a corrupt state file (clear error,
 * nothing overwritten), a bad record (skipped, kept), and a crash between the
 * temporary write and the rename (previous state intact).
 */
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLock, LOCK_FILE } from "../../src/interpreters/local/Lock.ts";
import { local } from "../../src/interpreters/local/index.ts";
import { REPO, fleetFile, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

describe("local state directory", () => {
  let ws: Workspace;
  let state = "";
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("fleet.ts", fleetFile());
    await ws.write("fleet-v2.ts", fleetFile({ webImage: "httpd:2.6" }));
    state = join(ws.dir, ".fleet");
    expect((await ws.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("an apply finds the lock held by another process: refused with the holder and lock ID, nothing written", async () => {
    const held = await acquireLock(state, { operation: "apply", timeoutMs: 0, who: "alice" });
    if (held._tag !== "Acquired") throw new Error("could not take the lock");
    try {
      const before = await readFile(join(state, "state.records"), "utf8");
      const r = await ws.fleet(["apply", NT, "--auto-approve", "fleet-v2.ts"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Error: the state is locked by alice@`);
      expect(r.stderr).toContain(`(pid ${process.pid}, apply, since ${held.info.created}, lock ID ${held.info.id}); nothing was applied.`);
      expect(r.stderr).toContain("fleet force-unlock LOCK_ID");
      expect(await readFile(join(state, "state.records"), "utf8")).toBe(before);
      // plan reads without the lock: a reader always sees one whole state.
      expect((await ws.fleet(["plan", NT, "fleet-v2.ts"])).code).toBe(0);
      const info = await ws.fleet(["local", "info"]);
      expect(info.stdout).toContain(`lock ID ${held.info.id}`);
    } finally {
      await held.release();
    }
  });

  it("--lock-timeout waits for the lock to be released", async () => {
    const held = await acquireLock(state, { operation: "apply", timeoutMs: 0 });
    if (held._tag !== "Acquired") throw new Error("could not take the lock");
    try {
      // Release only once the CLI says it is waiting: the wait itself is what is tested.
      const r = await ws.fleet(["apply", NT, "--auto-approve", "--lock-timeout", "60s", "fleet-v2.ts"], {
        onStderr: (text) => {
          if (text.includes("Waiting for the state lock")) void held.release();
        },
      });
      expect(r.stderr).toMatch(/^Waiting for the state lock, held by .* \(pid \d+, apply, since .*, lock ID [0-9a-f-]+\)\.\.\.\n$/);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Apply complete! 0 created, 3 updated, 0 deleted, 0 failed.");
    } finally {
      await held.release();
    }
  });

  it("force-unlock removes a lock left by a dead process, only with its ID and --force off a terminal", async () => {
    const held = await acquireLock(state, { operation: "apply", timeoutMs: 0 });
    if (held._tag !== "Acquired") throw new Error("could not take the lock");
    const noForce = await ws.fleet(["force-unlock", held.info.id]);
    expect(noForce.code).toBe(1);
    expect(noForce.stderr).toBe("Error: refusing to force-unlock without confirmation: stdin is not a terminal (pass --force)\n");
    const wrong = await ws.fleet(["force-unlock", "--force", "not-the-id"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^Error: lock ID "not-the-id" does not match the lock held by /);
    expect(existsSync(join(state, LOCK_FILE))).toBe(true);
    const ok = await ws.fleet(["force-unlock", "--force", held.info.id]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`Unlocked.`);
    expect(existsSync(join(state, LOCK_FILE))).toBe(false);
    const again = await ws.fleet(["force-unlock", "--force", held.info.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^Error: the state in .* is not locked\n$/);
  });

  it("a corrupt state file is a clear error that says how to recover, and is never overwritten", async () => {
    const c = await workspace();
    try {
      await c.write("fleet.ts", fleetFile());
      expect((await c.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
      await c.write("fleet-v2.ts", fleetFile({ webImage: "httpd:2.6" }));
      expect((await c.fleet(["apply", NT, "--auto-approve", "fleet-v2.ts"])).code).toBe(0);
      const path = join(c.dir, ".fleet", "state.records");
      const good = await readFile(path, "utf8");
      // A copy cut short between lines: without the end line the file would read as a smaller fleet.
      const garbage = good.slice(0, good.lastIndexOf('{"end"'));
      await writeFile(path, garbage);
      for (const args of [["plan", NT, "fleet.ts"], ["apply", NT, "--auto-approve", "fleet.ts"], ["status", NT, "fleet.ts"]]) {
        const r = await c.fleet(args);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^Error: .*\.fleet\/state\.records: the file ends after \d+ device lines without its end line \(truncated\)\. .*state\.records is not a usable state file; nothing was changed\. To recover, restore the previous state: `cp .*state\.records\.backup .*state\.records` \(serial 1\), or move .* away to start from an empty state\n$/);
        expect(await readFile(path, "utf8")).toBe(garbage);
      }
      // The documented recovery works: the backup is the state before the last apply.
      await writeFile(path, await readFile(`${path}.backup`, "utf8"));
      const r = await c.fleet(["plan", NT, "fleet-v2.ts"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Plan: 0 to create, 3 to update, 0 to delete.");
      // Without a backup, the message offers none.
      await writeFile(path, garbage);
      await rm(`${path}.backup`);
      const none = await c.fleet(["plan", NT, "fleet.ts"]);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/state\.records is not a usable state file, and there is no backup; nothing was changed\. To recover, repair it by hand, or move .* away to start from an empty state\n$/);
      expect(none.stderr).not.toContain("cp ");
    } finally {
      await c.cleanup();
    }
  }, 120_000); // seven CLI runs: under load (two cores, many users) more than the default 30 s

  it("a bad record is reported with its key and its device skipped; apply keeps it as it was", async () => {
    const c = await workspace();
    try {
      await c.write("fleet.ts", fleetFile());
      expect((await c.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
      const path = join(c.dir, ".fleet", "state.records");
      const lines = (await readFile(path, "utf8")).split("\n");
      const i = lines.findIndex((l) => l.startsWith("pi-02\t"));
      // pi-02's desired entries: a spec index that is not a number.
      const broken = (lines[i] as string).replace(/\bweb:\d+/, "web:x");
      expect(broken).not.toBe(lines[i]);
      lines[i] = broken;
      await writeFile(path, lines.join("\n"));
      await c.write("fleet-v2.ts", fleetFile({ webImage: "httpd:2.6" }));
      const r = await c.fleet(["apply", NT, "--auto-approve", "fleet-v2.ts"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^Warning: skipped unreadable record .*state\.records pi-02: desired web: spec index "x" is not in the header's specs\n$/);
      expect(r.stdout).toContain("Warning: 1 device skipped and left exactly as they are:\n  pi-02: unreadable record: desired web: spec index \"x\" is not in the header's specs");
      expect(r.stdout).toContain("Apply complete! 0 created, 2 updated, 0 deleted, 0 failed.");
      const after = (await readFile(path, "utf8")).split("\n");
      expect(after.filter((l) => l.startsWith("pi-02\t"))).toEqual([broken]);
    } finally {
      await c.cleanup();
    }
  });

  it("a failed write fails every action of the apply, reports each, and keeps the state", async () => {
    const c = await workspace();
    try {
      await c.write("fleet.ts", fleetFile());
      expect((await c.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
      const dir = join(c.dir, ".fleet");
      const before = await readFile(join(dir, "state.records"), "utf8");
      // A directory where the backup goes: the write cannot complete (even as root).
      await mkdir(join(dir, "state.records.backup"), { recursive: true });
      await writeFile(join(dir, "state.records.backup", "x"), "");
      await c.write("fleet-v2.ts", fleetFile({ webImage: "httpd:2.6" }));
      const r = await c.fleet(["apply", NT, "--auto-approve", "--progress", "fleet-v2.ts"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Applying: 3\/3 \(3 failed\)\nFailed: update pi-01 web: writing .*\.fleet: .*\nFailed: update pi-02 web: .*\nFailed: update pi-03 web: .*\n$/);
      expect(r.stdout).toContain("Apply complete! 0 created, 0 updated, 0 deleted, 3 failed.");
      expect(await readFile(join(dir, "state.records"), "utf8")).toBe(before);
    } finally {
      await c.cleanup();
    }
  });

  it("a crash between the temporary write and the rename leaves the previous state intact", async () => {
    const c = await workspace();
    try {
      await c.write("fleet.ts", fleetFile());
      expect((await c.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
      const dir = join(c.dir, ".fleet");
      const before = await readFile(join(dir, "state.records"), "utf8");
      const child = spawn(process.execPath, ["--import", "tsx", join(REPO, "test/cli/crash-writer.ts"), dir], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_code, sig) => resolve(sig)));
      expect(err).toBe("");
      expect(signal).toBe("SIGKILL");
      const tmp = out.trim();
      // The new state was fully written to the temporary file, and is not the state.
      expect(tmp).toMatch(/\.state\.records\.\d+\.[0-9a-f]{8}\.tmp$/);
      expect(await readFile(tmp, "utf8")).toMatch(/\tcrashed:\d+[,\t]/);
      expect(await readFile(join(dir, "state.records"), "utf8")).toBe(before);
      // The crashed process still holds the lock: exactly as after a real crash.
      const locked = await c.fleet(["plan", NT, "fleet.ts"]);
      expect(locked.code).toBe(0);
      expect(locked.stdout).toContain("No changes.");
      const stuck = await local({ stateDir: dir });
      const lock = await stuck.lockState();
      if (lock._tag !== "Held") throw new Error("expected the crashed writer's lock");
      expect((await c.fleet(["force-unlock", "--force", lock.info.id])).code).toBe(0);
      // The next write cleans the stray temporary file up.
      await c.write("fleet-v2.ts", fleetFile({ webImage: "httpd:2.6" }));
      expect((await c.fleet(["apply", NT, "--auto-approve", "fleet-v2.ts"])).code).toBe(0);
      expect((await readdir(dir)).sort()).toEqual(["specs", "state.records", "state.records.backup"]);
    } finally {
      await c.cleanup();
    }
  });
});
