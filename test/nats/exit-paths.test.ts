/**
 * Exit paths of the real `fleet apply --backend nats` on a real nats-server:
 * the server killed mid-apply and not coming back (one line, a count, exit 1;
 * the re-plan is the remainder; the lock expires by itself), a dead holder's
 * lock (refused with advice, broken by its ID with `force-unlock --backend
 * nats`), SIGTERM mid-apply (the lock released), stderr
 * closed during `--progress` (the apply completes, the lock released), and
 * lock advice that names only what works for NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bigFleet, noCrash, spawnFleet } from "../cli/pipes.ts";
import { workspace, type Workspace } from "../cli/support.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { nats as natsInterpreter } from "../../src/interpreters/nats/index.ts";

const NT = "--no-typecheck";
const DEVICES = 20_000;
const ACTIONS = DEVICES * 2;

describe("fleet apply --backend nats: exit paths", () => {
  let ws: Workspace;
  let server: NatsServer;
  const nats = (): string[] => ["--backend", "nats", "--nats", server.url];
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("big.ts", bigFleet(DEVICES, "httpd:1"));
    await ws.write("big2.ts", bigFleet(DEVICES, "httpd:2"));
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
    await ws?.cleanup();
  });

  it("server killed mid-apply and gone: one line with a count, exit 1; the re-plan is the remainder", async () => {
    let killed: Promise<void> | undefined;
    let killedAt = 0;
    const p = spawnFleet(ws, ["apply", NT, "--auto-approve", "--progress", ...nats(), "big.ts"], {
      onStderr: (soFar) => {
        if (killed === undefined && /Applying: \d+\/\d+/.test(soFar)) {
          killedAt = Date.now();
          killed = server.kill();
        }
      },
    });
    const r = await p.result;
    const tookMs = Date.now() - killedAt;
    expect(killed).toBeDefined();
    noCrash(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("Failed:");
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
    expect(errors).toHaveLength(1);
    const m = /^Error: NATS server lost after (\d+) of (\d+) actions applied; (\d+) not applied .*expires 30 s after its last renewal; run fleet plan again$/.exec(errors[0] as string);
    expect(m, errors[0]).not.toBeNull();
    const [applied, total, notApplied] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    expect(total).toBe(ACTIONS);
    expect(applied + notApplied).toBe(ACTIONS);
    expect(notApplied).toBeGreaterThan(0);
    // Bounded by the stated 10 s grace, not by per-write timeouts (which took 33–53 s); generous for a loaded machine.
    expect(tookMs).toBeLessThan(30_000);

    await server.restart();
    // The re-plan is exactly what was not applied (writes in flight at the kill may or may not have been stored).
    const plan = await ws.fleet(["plan", NT, ...nats(), "big.ts"]);
    const toCreate = Number(/Plan: (\d+) to create, 0 to update, 0 to delete\./.exec(plan.stdout)?.[1]);
    expect(toCreate).toBeLessThanOrEqual(notApplied);
    expect(toCreate).toBeGreaterThan(0);
    // The dead apply's lock could not be released: it expires 30 s after its last renewal (or already has).
    const again = await ws.fleet(["apply", NT, "--auto-approve", "--lock-timeout", "45s", ...nats(), "big.ts"]);
    expect(again.code).toBe(0);
    expect((await ws.fleet(["plan", NT, ...nats(), "big.ts"])).stdout).toContain("No changes.");
  }, 180_000);

  it("a dead holder's lock: refused with advice that works for NATS and its lock ID; force-unlock breaks it only with that ID", async () => {
    const fleet = await natsInterpreter({ servers: server.url, name: "lock-writer" });
    try {
      const now = new Date();
      const value = { v: 1, owner: "fleet-cli@dead-host:1/x", id: "dead-1", acquired: now.toISOString(), expires: new Date(now.getTime() + 600_000).toISOString() };
      await fleet.buckets.locks.put("apply", new TextEncoder().encode(JSON.stringify(value)));
    } finally {
      await fleet.close();
    }
    const refused = await ws.fleet(["apply", NT, "--auto-approve", "--lock-timeout", "0", ...nats(), "big2.ts"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the state is locked by fleet-cli@dead-host:1\/x \(lock ID dead-1\) until /);
    expect(refused.stderr).toContain(`break it with fleet force-unlock --backend nats --nats ${server.url} LOCK_ID`);
    expect(refused.stderr).not.toContain("fleet force-unlock LOCK_ID");

    const wrong = await ws.fleet(["force-unlock", "--force", ...nats(), "not-the-id"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('lock ID "not-the-id" does not match the NATS apply lock held by fleet-cli@dead-host:1/x (lock ID dead-1)');
    const noId = await ws.fleet(["force-unlock", "--force", ...nats()]);
    expect(noId.code).toBe(1);
    const unlocked = await ws.fleet(["force-unlock", "--force", ...nats(), "dead-1"]);
    expect(unlocked.stderr).toBe("");
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toContain("The NATS apply lock held by fleet-cli@dead-host:1/x is broken (lock ID dead-1 removed).");
    const next = await ws.fleet(["apply", NT, "--auto-approve", "--lock-timeout", "0", ...nats(), "big.ts"]);
    expect(next.stderr).not.toContain("locked");
    expect(next.code).toBe(0);
  }, 180_000);

  it("SIGTERM mid-apply: exits 143 quietly and releases the NATS lock (the next apply takes it at once)", async () => {
    let sent = false;
    const p = spawnFleet(ws, ["apply", NT, "--auto-approve", "--progress", ...nats(), "big2.ts"], {
      onStderr: (soFar) => {
        if (!sent && /Applying: \d+\/\d+/.test(soFar)) {
          sent = true;
          p.kill("SIGTERM");
        }
      },
    });
    const r = await p.result;
    expect(sent).toBe(true);
    noCrash(r.stderr);
    expect(r.code).toBe(143);
    expect(r.stderr).toContain("Interrupted by SIGTERM; releasing the state lock.");
    const next = await ws.fleet(["apply", NT, "--auto-approve", "--lock-timeout", "0", ...nats(), "big2.ts"]);
    expect(next.stderr).not.toContain("locked");
    expect(next.code).toBe(0);
  }, 180_000);

  it("--progress with stderr closed: the apply completes and releases the lock", async () => {
    const r = await spawnFleet(ws, ["apply", NT, "--auto-approve", "--progress", ...nats(), "big.ts"], { closeStderr: true }).result;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Apply complete!");
    const next = await ws.fleet(["apply", NT, "--auto-approve", "--lock-timeout", "0", ...nats(), "big2.ts"]);
    expect(next.stderr).not.toContain("locked");
    expect(next.code).toBe(0);
  }, 180_000);
});
