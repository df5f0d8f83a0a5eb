/**
 * Small promises of the CLI and its docs: `status --json` prints its summary
 * line even when nothing is assigned, and the README's sample fleet file is
 * the real `fleets/demo.ts`, whose header comment says what it really does.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, jsonLines, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

describe("status --json", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("empty.ts", `import { world } from "fleet-algebra";\nexport default world({ assignments: [] });\n`);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("nothing assigned: one status_summary line, all counts 0", async () => {
    const r = await ws.fleet(["status", NT, "--json", "empty.ts"]);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ type: "status_summary", v: 1, deployments: 0, devices: 0, online: 0, offline: 0, unregistered: 0 }]);
  });
});

describe("README and fleets/demo.ts", () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const demo = readFileSync(join(REPO, "fleets/demo.ts"), "utf8");

  it("the README's sample fleet file is fleets/demo.ts, exactly", () => {
    const first = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(first).toBe(demo);
    expect(readme).toContain("That is `fleets/demo.ts`, exactly");
  });

  it("the demo's comment says where the canary goes and who gets no web (checked by fleet plan)", async () => {
    const ws = await workspace();
    try {
      const r = await ws.fleet(["plan", NT, "--json", join(REPO, "fleets/demo.ts")]);
      expect(r.code).toBe(0);
      const web = jsonLines(r.stdout)
        .filter((l) => l.type === "action" && l["deployment"] === "web")
        .map((l) => `${String(l["device"])} ${String((l["assignedBy"] as { assignment: string }).assignment)}`)
        .sort();
      expect(web).toEqual(["nuc-01 south-canary", "pi-01 prod-web", "pi-02 prod-web", "pi-03 south-canary"]);
      expect(demo).toContain("gives the newer image (2.4.63) to every `site=south`\n * device: pi-03, and nuc-01");
      expect(demo).toContain("The other lab box, vm-01, gets no web");
    } finally {
      await ws.cleanup();
    }
  });
});
