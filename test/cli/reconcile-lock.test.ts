/**
 * `fleet reconcile` on NATS holds the apply lock for a whole step (read,
 * plan, apply): two real reconcile processes against a real nats-server
 * never act at once; the second waits and says, once, who holds the lock;
 * SIGTERM to the holder releases it and the second proceeds. The local
 * backend's state lock is held the same way.
 *
 * The fleet file is a function export that takes a while to load, so that a
 * step (which loads it after reading) holds the lock long enough to be seen.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLock } from "../../src/interpreters/local/Lock.ts";
import { useNats } from "../nats/support.ts";
import { spawnFleet, type Spawned } from "./pipes.ts";
import { jsonLines, workspace, type Workspace } from "./support.ts";

const SLOW = `
import type { Device } from "fleet-algebra";
import { all, assign, deployment, device, podman, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));
export default async (_inventory: ReadonlyArray<Device>) => {
  await new Promise((r) => setTimeout(r, 1500));
  return world({ fleet: [device("pi-01"), device("pi-02")], assignments: [assign(all, web)] });
};
`;

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
  await ws.write("slow.ts", SLOW);
});
afterAll(async () => {
  await ws.cleanup();
});

describe("fleet reconcile (NATS): one controller at a time", () => {
  const n = useNats();

  it("a second reconcile waits, names the holder once; SIGTERM to the holder releases the lock", async () => {
    const args = ["reconcile", "--no-typecheck", "--backend", "nats", "--nats", n.server.url, "--json", "--watch", "--interval", "100ms", "--load-timeout", "30s", "slow.ts"];
    let aOut = "";
    let bOut = "";
    const a: Spawned = spawnFleet(ws, args, { onStdout: (s) => (aOut = s) });
    // A holds the lock (its first step is loading the slow fleet file).
    await until("the first reconcile to take the lock", async () => (await n.fleet.lockHolder()) !== undefined);
    const holder = await n.fleet.lockHolder();
    const b: Spawned = spawnFleet(ws, args, { onStdout: (s) => (bOut = s) });
    await until("the second reconcile to say it waits", () => jsonLines(bOut).some((l) => l["type"] === "waiting"));
    // Both keep stepping, taking turns (each step holds the lock); B says only once that A holds it.
    await until("two more steps of each", () => jsonLines(aOut).filter((l) => l["type"] === "step").length >= 3 && jsonLines(bOut).filter((l) => l["type"] === "step").length >= 2);
    const waiting = jsonLines(bOut).filter((l) => l["type"] === "waiting");
    expect(waiting).toHaveLength(1);
    expect(String(waiting[0]?.["holder"])).toContain(holder?.owner);

    // A's first step applied under the lock it held (the apply reused it rather than waiting for itself).
    expect(jsonLines(aOut).find((l) => l["type"] === "step")?.["result"]).toBe("Completed");
    a.kill("SIGTERM");
    const ra = await a.result;
    expect(ra.code).toBe(0);
    // A converged the World in its first step: B, which only ever planned after it, never had anything to apply.
    expect(jsonLines(bOut).filter((l) => l["type"] === "step").map((l) => l["result"])).toEqual(jsonLines(bOut).filter((l) => l["type"] === "step").map(() => "nothing"));
    // With A gone, B steps on without waiting.
    const before = jsonLines(bOut).filter((l) => l["type"] === "step").length;
    await until("B stepping alone", () => jsonLines(bOut).filter((l) => l["type"] === "step").length >= before + 2);
    expect(jsonLines(bOut).filter((l) => l["type"] === "waiting")).toHaveLength(1);
    b.kill("SIGTERM");
    const rb = await b.result;
    expect(rb.code).toBe(0);
    expect(rb.stderr).toBe("");
    await until("the lock to be released", async () => (await n.fleet.lockHolder()) === undefined, 5_000);
  }, 90_000);
});

describe("fleet reconcile (local backend): one controller at a time", () => {

  it("a second reconcile waits for the state lock and names its holder once", async () => {
    const stateDir = join(ws.dir, "state");
    const args = ["reconcile", "--no-typecheck", `--state-dir=${stateDir}`, "--json", "--watch", "--interval", "100ms", "--load-timeout", "30s", "slow.ts"];
    let aOut = "";
    let bOut = "";
    const a: Spawned = spawnFleet(ws, args, { onStdout: (s) => (aOut = s) });
    await until("the first reconcile to take the lock", async () => (await readLock(stateDir))._tag === "Held");
    const lock = await readLock(stateDir);
    const b: Spawned = spawnFleet(ws, args, { onStdout: (s) => (bOut = s) });
    await until("two steps of each", () => jsonLines(aOut).filter((l) => l["type"] === "step").length >= 3 && jsonLines(bOut).filter((l) => l["type"] === "step").length >= 2);
    const waiting = jsonLines(bOut).filter((l) => l["type"] === "waiting");
    expect(waiting).toHaveLength(1);
    expect(String(waiting[0]?.["holder"])).toContain(lock._tag === "Held" ? `pid ${lock.info.pid}` : "?");
    expect(jsonLines(aOut).find((l) => l["type"] === "step")?.["result"]).toBe("Completed");
    a.kill("SIGTERM");
    expect((await a.result).code).toBe(0);
    b.kill("SIGTERM");
    const rb = await b.result;
    expect(rb.code).toBe(0);
    expect(rb.stderr).toBe("");
    expect((await readLock(stateDir))._tag).toBe("Free");
  }, 90_000);
});
