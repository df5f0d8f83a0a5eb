/**
 * End to end: plan, apply and saved plans through the real `fleet` binary on
 * the local backend, in a temporary workspace.
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetFile, jsonLines, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

describe("fleet plan / apply", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("fleet.ts", fleetFile());
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("plans changes (exit 2 with --detailed-exitcode), applies them, then plans no changes (exit 0)", async () => {
    const before = await ws.fleet(["plan", NT, "--detailed-exitcode", "fleet.ts"]);
    expect(before.stderr).toBe("");
    expect(before.code).toBe(2);
    expect(before.stdout).toContain("Plan: 7 to create, 0 to update, 0 to delete.");
    expect(before.stdout).toMatch(/# pi-01 \(not registered\)\n  \+ metrics  [0-9a-f]{12}  by @all\n  \+ web      [0-9a-f]{12}  by env=prod/);
    expect(before.stdout).toContain("Note: 7 actions are for devices that have not registered yet");
    expect(existsSync(join(ws.dir, ".fleet"))).toBe(false);

    const apply = await ws.fleet(["apply", NT, "--auto-approve", "--progress", "fleet.ts"]);
    expect(apply.code).toBe(0);
    expect(apply.stderr).toBe("Applying: 7/7\n");
    expect(apply.stdout).toContain("Apply complete! 7 created, 0 updated, 0 deleted, 0 failed.");

    const after = await ws.fleet(["plan", NT, "--detailed-exitcode", "fleet.ts"]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain("No changes. Reality matches the World (7 entries on 4 devices).");

    // An apply with nothing to do still says so, and succeeds.
    const again = await ws.fleet(["apply", NT, "--auto-approve", "fleet.ts"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("Apply complete! 0 created, 0 updated, 0 deleted, 0 failed.");
  });

  it("shows updates (old → new hash) and deletes, grouped by deployment on request", async () => {
    await ws.write("v2.ts", fleetFile({ webImage: "httpd:2.6", devices: 2 }));
    const r = await ws.fleet(["plan", NT, "--group-by", "deployment", "v2.ts"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Plan: 0 to create, 2 to update, 2 to delete.");
    expect(r.stdout).toMatch(/# metrics\n  - pi-03 \(not registered\)\s+[0-9a-f]{12}\s+device no longer in the fleet/);
    expect(r.stdout).toMatch(/# web\n  ~ pi-01 \(not registered\)\s+[0-9a-f]{12} → [0-9a-f]{12}\s+by env=prod/);
  });

  it("refuses to apply on a non-interactive stdin without --auto-approve, before touching anything", async () => {
    const other = await workspace();
    try {
      await other.write("fleet.ts", fleetFile());
      const r = await other.fleet(["apply", NT, "fleet.ts"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("Error: refusing to apply without confirmation: stdin is not a terminal (pass --auto-approve, or apply a saved plan)\n");
      expect(existsSync(join(other.dir, ".fleet"))).toBe(false);
    } finally {
      await other.cleanup();
    }
  });

  it("--json prints versioned JSON lines that match the plan, and --out saves the same actions", async () => {
    const r = await ws.fleet(["plan", NT, "--json", "--out", "plan.json", "v2.ts"]);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines[0]?.type).toBe("plan");
    expect(lines.at(-1)).toMatchObject({ type: "summary", create: 0, update: 2, delete: 2, changes: true });
    const actions = lines.filter((l) => l.type === "action");
    expect(actions.map((a) => `${String(a["op"])} ${String(a["device"])}.${String(a["deployment"])}`)).toEqual([
      "update pi-01.web",
      "update pi-02.web",
      "delete pi-03.metrics",
      "delete pi-03.web",
    ]);
    const saved = JSON.parse(await readFile(join(ws.dir, "plan.json"), "utf8")) as { format: string; version: number; actions: Array<Record<string, unknown>> };
    expect(saved.format).toBe("fleet-plan");
    expect(saved.version).toBe(2);
    expect(saved.actions.map((a) => [a["device"], a["deployment"], a["specHash"] ?? null])).toEqual(
      actions.map((a) => [a["device"], a["deployment"], a["specHash"] ?? null]),
    );
    expect((await stat(join(ws.dir, "plan.json"))).mode & 0o777).toBe(0o600);
  });

  it("applies a fresh saved plan without asking, and refuses it once applied (stale)", async () => {
    const r = await ws.fleet(["apply", "plan.json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Apply complete! 0 created, 2 updated, 2 deleted, 0 failed.");
    const again = await ws.fleet(["apply", "plan.json"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^Error: saved plan is stale: Reality changed since plan\.json was made/);
  });

  it("refuses a saved plan whose fleet files changed since, and one made for another state directory", async () => {
    await ws.write("v3.ts", fleetFile({ webImage: "httpd:2.7", devices: 2 }));
    expect((await ws.fleet(["plan", NT, "--out", "p3.json", "v3.ts"])).code).toBe(0);
    const other = await ws.fleet(["apply", "--state-dir", "elsewhere", "p3.json"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^Error: saved plan p3\.json was made for backend local .*\.fleet, not local .*elsewhere\n$/);
    await ws.write("v3.ts", fleetFile({ webImage: "httpd:2.8", devices: 2 }));
    const r = await ws.fleet(["apply", "p3.json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: saved plan is stale: the fleet files \(v3\.ts\) no longer give the World it was made from/);
  });

  it("refuses a saved plan that was edited (spec no longer matches its hash)", async () => {
    expect((await ws.fleet(["plan", NT, "--out", "p4.json", "v3.ts"])).code).toBe(0);
    const text = await readFile(join(ws.dir, "p4.json"), "utf8");
    await writeFile(join(ws.dir, "p4.json"), text.replace('"httpd:2.8"', '"evil:1"'));
    const r = await ws.fleet(["apply", "p4.json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: p4\.json: not a usable saved plan: actions\.0: the spec does not hash to its specHash/);
  });

  it("prints conflicts first, exits 1 on plan, and refuses apply without writing", async () => {
    const c = await workspace();
    try {
      await c.write(
        "conflict.ts",
        fleetFile({ extra: `, assign("env=prod", deployment("web", podman({ services: [{ name: "httpd", image: "nginx:1" }] })), { name: "team-b" })` }),
      );
      const plan = await c.fleet(["plan", NT, "conflict.ts"]);
      expect(plan.code).toBe(1);
      expect(plan.stdout.split("\n")[0]).toBe("Conflicts (3): apply is refused until they are resolved");
      expect(plan.stdout).toMatch(/! pi-01 web: different specs at priority 0 from env=prod \([0-9a-f]{12}\), team-b \([0-9a-f]{12}\)/);
      expect(plan.stdout).toContain("Plan: 4 to create, 0 to update, 0 to delete.");
      expect(plan.stderr).toContain("Error: the World has 3 conflicts; apply would be refused");
      const out = await c.fleet(["plan", NT, "--out", "x.json", "conflict.ts"]);
      expect(out.code).toBe(1);
      expect(existsSync(join(c.dir, "x.json"))).toBe(false);
      const apply = await c.fleet(["apply", NT, "--auto-approve", "conflict.ts"]);
      expect(apply.code).toBe(1);
      expect(apply.stderr).toMatch(/^Error: apply refused: the World has 3 conflicts/);
      expect(existsSync(join(c.dir, ".fleet", "state.records"))).toBe(false);
    } finally {
      await c.cleanup();
    }
  });

  it("merges several files (two teams) into one World", async () => {
    await ws.write(
      "team-a.ts",
      `import { assign, deployment, device, podman, world } from "fleet-algebra";
export default world({ fleet: [device("edge-1", { labels: { env: "prod" } })], assignments: [assign("env=prod", deployment("a", podman({ services: [{ name: "s", image: "a:1" }] })))] });`,
    );
    await ws.write(
      "team-b.ts",
      `import { assign, deployment, podman, world } from "fleet-algebra";
export default world({ assignments: [assign("@all", deployment("b", podman({ services: [{ name: "s", image: "b:1" }] })))] });`,
    );
    const r = await ws.fleet(["plan", NT, "--state-dir", "merge-state", "team-a.ts", "team-b.ts"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/# edge-1 \(not registered\)\n  \+ a  [0-9a-f]{12}  by env=prod\n  \+ b  [0-9a-f]{12}  by @all/);
    const swapped = await ws.fleet(["plan", NT, "--state-dir", "merge-state", "team-b.ts", "team-a.ts"]);
    expect(swapped.stdout).toBe(r.stdout);
  });
});
