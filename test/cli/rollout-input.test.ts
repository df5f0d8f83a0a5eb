/**
 * Bad rollout policies in fleet files, through the real `fleet` binary on the
 * local backend: each is one error line naming the file and the field, the
 * exit code is 1, and nothing is published. A wave selector that takes none
 * of the targeted devices is found when planning, and fails plan and apply
 * the same way (naming the deployment too).
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonLines, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

const fleetWith = (policy: string): string => `
import { assign, deployment, device, podman, rollout, waves, world } from "fleet-algebra";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }), { rollout: ${policy} });

export default world({
  fleet: [device("pi-01", { labels: { site: "lab" } }), device("pi-02", { labels: { site: "shop" } }), device("pi-03", { labels: { site: "shop" } })],
  assignments: [assign("site", web)],
});
`;

/** Every file below `dir` (the local backend's state), relative. */
const published = async (dir: string): Promise<ReadonlyArray<string>> => {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
};

describe("bad rollout policies in fleet files", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["budget0.ts", `rollout({ waves: ["10%"], maxUnavailable: 0 })`, /budget\.maxUnavailable: 0 lets no device be updated/],
    ["budget100.ts", `rollout({ waves: ["10%"], minAvailable: "100%" })`, /budget\.minAvailable: 100% lets no device be updated/],
    ["selector.ts", `rollout({ waves: [{ selector: "site in (" }] })`, /waves\[0\]\.selector: expected a value/],
    ["percent.ts", `waves("10%", "150%")`, /a percentage over 100 \(150%\)/],
    ["threshold.ts", `rollout({ waves: ["10%"], successThreshold: 120 })`, /successThreshold.*a threshold outside 0\.\.100 %/],
  ];

  for (const [file, policy, message] of cases)
    it(`${file}: ${policy} is one line naming the file and the field; nothing is published`, async () => {
      await ws.write(file, fleetWith(policy));
      const state = `state-${file}`;
      for (const args of [["plan", NT, "--state-dir", state, file], ["apply", NT, "--auto-approve", "--state-dir", state, file]]) {
        const r = await ws.fleet(args);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^Error: ${file.replace(".", "\\.")}(:\\d+)?: .*InvalidRolloutError`));
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      }
      expect((await published(join(ws.dir, state))).filter((f) => !f.endsWith(".lock"))).toEqual([]);
    }, 120_000);

  it("a wave selector that takes none of the targeted devices fails plan and apply, naming file, deployment and field", async () => {
    await ws.write("nowhere.ts", fleetWith(`rollout({ waves: [{ selector: "site=nowhere" }, "50%"] })`));
    const plan = await ws.fleet(["plan", NT, "--state-dir", "s-nowhere", "nowhere.ts"]);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/^Error: nowhere\.ts: deployment web: waves\[0\]\.selector "site=nowhere" selects none of the 3 devices web targets$/m);
    const json = await ws.fleet(["plan", NT, "--json", "--state-dir", "s-nowhere", "nowhere.ts"]);
    expect(json.code).toBe(1);
    expect(jsonLines(json.stdout).some((l) => l.type === "error" && String(l.message).includes("waves[0].selector"))).toBe(true);
    const saved = await ws.fleet(["plan", NT, "--out", "p.json", "--state-dir", "s-nowhere", "nowhere.ts"]);
    expect(saved.code).toBe(1);
    expect(existsSync(join(ws.dir, "p.json"))).toBe(false);
    const apply = await ws.fleet(["apply", NT, "--auto-approve", "--state-dir", "s-nowhere", "nowhere.ts"]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toMatch(/Error: apply refused: nowhere\.ts: deployment web: waves\[0\]\.selector "site=nowhere" selects none/);
    expect((await published(join(ws.dir, "s-nowhere"))).filter((f) => f.includes("desired"))).toEqual([]);
  }, 180_000);

  it("a good policy plans, with its schedule", async () => {
    await ws.write("good.ts", fleetWith(`rollout({ waves: [{ selector: "site=lab" }], successThreshold: "95%" })`));
    const r = await ws.fleet(["plan", NT, "--state-dir", "s-good", "good.ts"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Rollouts:");
    expect(r.stdout).toMatch(/wave 1 of 2: 1 device \(site=lab\)/);
  }, 120_000);
});
