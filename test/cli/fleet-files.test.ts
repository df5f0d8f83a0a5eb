/**
 * End to end: fleet files that do not type-check, throw, export nothing or
 * something that is not a World, function exports, `fleet validate`.
 * Every failure is one line naming the file; nothing is written.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetFile, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

describe("fleet files", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("good.ts", fleetFile());
    await ws.write(
      "typo.ts",
      `import { assign, deployment, podman, world } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));
// "priorty" is a typo: at run time it is silently ignored, the type checker catches it.
export default world({ assignments: [assign("env=prod", web, { priorty: 10 })] });
`,
    );
    await ws.write(
      "throws.ts",
      `import { device, world } from "fleet-algebra";

const fleet = [device("Pi_01")];
export default world({ fleet, assignments: [] });
`,
    );
    await ws.write("number.ts", "export default 42;\n");
    await ws.write("nothing.ts", "export const world = 1;\n");
    await ws.write(
      "forged.ts",
      `// Looks like a World, but its score has no image.
export default {
  _tag: "World",
  fleet: { _tag: "None" },
  assignments: [
    { _tag: "Assignment", selector: { _tag: "All" }, priority: 0, name: "a", id: "x",
      deployments: [{ name: "web", rollout: { _tag: "Immediate" }, score: { _tag: "PodmanV0", services: [{ name: "s", image: "" }] } }] },
  ],
};
`,
    );
    await ws.write(
      "inventory.ts",
      `import { assign, deployment, podman, world, type Device } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));
// A World computed from the registered devices: every registered device gets web, by id.
export default async (inventory: ReadonlyArray<Device>) =>
  world({ assignments: inventory.map((d) => assign(\`@id in (\${d.id})\`, web, { name: \`web-\${d.id}\` })) });
`,
    );
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  // Each validate type-checks from scratch in a new workspace: seconds each on a busy machine.
  const SLOW = 180_000;

  it("validate reports a type error with its position and exits 1", { timeout: SLOW }, async () => {
    const r = await ws.fleet(["validate", "typo.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^typo\.ts:4:\d+: error TS\d+: Object literal may only specify known properties, but 'priorty' does not exist in type 'AssignOptions'/m);
    expect(r.stdout).toContain("✗ type check: 1 error");
    expect(r.stderr).toMatch(/Error: the fleet files are not valid \(1 problem\)\n$/);
  });

  it("plan type-checks by default (refusing a type error), and --no-typecheck skips it", { timeout: SLOW }, async () => {
    const r = await ws.fleet(["plan", "typo.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error: 1 type error in the fleet files (fix them, or pass --no-typecheck to plan anyway)");
    const skipped = await ws.fleet(["plan", NT, "typo.ts"]);
    expect(skipped.code).toBe(0);
  });

  it("a module that throws: one line naming the file and line, no stack, nothing written", async () => {
    const r = await ws.fleet(["plan", NT, "throws.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'Error: throws.ts:3: could not load: InvalidDeviceError: invalid device id "Pi_01": must be lower case (found "P") (RFC 1123 DNS label)\n',
    );
    const apply = await ws.fleet(["apply", NT, "--auto-approve", "throws.ts"]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(ws.dir, ".fleet"))).toBe(false);
  });

  it("FLEET_DEBUG=1 shows the stack", async () => {
    const r = await ws.fleet(["plan", NT, "throws.ts"], { env: { FLEET_DEBUG: "1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it("a default export that is not a World, or none", async () => {
    const n = await ws.fleet(["plan", NT, "number.ts"]);
    expect(n.code).toBe(1);
    expect(n.stderr).toBe("Error: number.ts: default export: expected a World (made by world({ ... })) or a function of the inventory returning one, got number 42\n");
    const none = await ws.fleet(["plan", NT, "nothing.ts"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^Error: nothing\.ts: no default export \(expected `export default world\(\{ \.\.\. \}\)`/);
    const missing = await ws.fleet(["plan", NT, "missing.ts"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error: missing.ts: no such file\n");
  });

  it("a World-shaped value is checked field by field, with the path of the bad field", async () => {
    const r = await ws.fleet(["plan", NT, "forged.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: forged.ts: default export: assignments.0.deployments.0.score.services.0.image: expected NonEmptyString, got ""\n');
  });

  it("a function export receives the registered inventory", async () => {
    const empty = await ws.fleet(["plan", NT, "--state-dir", "inv", "inventory.ts"]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain("No changes. Reality matches the World (0 entries on 0 devices).");
    // Register the devices good.ts declares (simulation), then plan the function export against them.
    const sim = await ws.fleet(["local", "simulate", "--state-dir", "inv", "good.ts"]);
    expect(sim.code).toBe(0);
    expect(sim.stdout).toContain("Simulated agents on the local backend (no real device was contacted): 4 devices online");
    const r = await ws.fleet(["plan", NT, "--state-dir", "inv", "inventory.ts"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Plan: 4 to create, 0 to update, 0 to delete.");
    expect(r.stdout).toMatch(/# nuc-01\n  \+ web  [0-9a-f]{12}  by web-nuc-01 \(@id in \(nuc-01\)\)/);
  });

  it("validate: success, overlaps, conflicts, and what it cannot check without a declared fleet", { timeout: SLOW }, async () => {
    const ok = await ws.fleet(["validate", "good.ts"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("✓ good.ts: a World: 4 devices declared, 2 assignments");
    expect(ok.stdout).toContain("✓ no conflicts on the 4 declared devices");
    expect(ok.stdout).toContain("Success! The fleet files are valid.");

    await ws.write(
      "overlap.ts",
      fleetFile({
        extra: `, assign("env=prod", deployment("web", podman({ services: [{ name: "httpd", image: "nginx:1" }] })), { name: "override", priority: 5 }),
  assign("@arch=aarch64", deployment("web", podman({ services: [{ name: "httpd", image: "apache:1" }] })), { name: "rival" })`,
      }),
    );
    const bad = await ws.fleet(["validate", "overlap.ts"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("Conflicts (1): apply is refused until they are resolved");
    expect(bad.stdout).toContain("! web: env=prod and rival give different specs at priority 0 to 3 devices (pi-01, pi-02, pi-03)");
    expect(bad.stdout).toContain("↑ web: override (priority 5) overrides env=prod (priority 0) on 3 devices (pi-01, pi-02, pi-03)");
    expect(bad.stderr).toMatch(/Error: the fleet files are not valid \(1 problem\)\n$/);

    const fn = await ws.fleet(["validate", "inventory.ts"]);
    expect(fn.code).toBe(0);
    expect(fn.stdout).toContain("✓ inventory.ts: a function of the inventory (called with no devices): 0 assignments");
    expect(fn.stdout).toContain("the World declares no fleet: conflicts and overlaps depend on the devices that register");
  });

  it("validate never touches a backend", { timeout: SLOW }, async () => {
    await ws.fleet(["validate", "good.ts"]);
    expect(existsSync(join(ws.dir, ".fleet"))).toBe(false);
  });
});
