/**
 * Typos that select nothing do not pass silently: `fleet validate` and
 * `fleet plan` warn (text and --json) about a selector that selects no
 * device, a label key no device has (with the nearest one) and a deployment
 * given to no device; the exit code does not change.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetFile, jsonLines, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";
const typo = `, assign("evn=prod", deployment("api", podman({ services: [{ name: "api", image: "api:1" }] })))`;

describe("warnings about the World", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("typo.ts", fleetFile({ extra: typo }));
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("validate: warnings after the checks, still valid; --json gives the same as lines", async () => {
    const r = await ws.fleet(["validate", "typo.ts"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      [
        "Warnings (3):",
        '  ! assignment evn=prod reads label key "evn", which no device has (did you mean "env"?)',
        "  ! assignment evn=prod selects no device",
        "  ! deployment api is given to no device",
        "Success! The fleet files are valid.",
      ].join("\n"),
    );
    const j = await ws.fleet(["validate", "--json", "typo.ts"]);
    expect(j.code).toBe(0);
    const lines = jsonLines(j.stdout);
    expect(lines.map((l) => l.type)).toEqual(["typecheck", "file", "world_warning", "world_warning", "world_warning", "validate"]);
    expect(lines[2]).toMatchObject({ kind: "unknown-label-key", assignment: "evn=prod", key: "evn", didYouMean: "env" });
    expect(lines[3]).toMatchObject({ kind: "unmatched-selector", assignment: "evn=prod", selector: "evn=prod" });
    expect(lines[4]).toMatchObject({ kind: "unassigned-deployment", deployment: "api", message: "deployment api is given to no device" });
    expect(lines[5]).toMatchObject({ type: "validate", valid: true, problems: 0 });
  }, 120_000); // two type checks

  it("plan: warnings on stderr, world_warning lines in --json; the exit code is unchanged", async () => {
    const r = await ws.fleet(["plan", NT, "typo.ts"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      'Warning: assignment evn=prod reads label key "evn", which no device has (did you mean "env"?)\nWarning: assignment evn=prod selects no device\nWarning: deployment api is given to no device\n',
    );
    const j = await ws.fleet(["plan", NT, "--json", "typo.ts"]);
    const lines = jsonLines(j.stdout);
    expect(lines.filter((l) => l.type === "world_warning").map((l) => l["kind"])).toEqual(["unknown-label-key", "unmatched-selector", "unassigned-deployment"]);
    expect(lines.findIndex((l) => l.type === "world_warning")).toBe(1);
  });

  it("explain --json: the device, each assignment with its verdict and tree, what it should run and reports", async () => {
    const r = await ws.fleet(["explain", NT, "--json", "typo.ts", "pi-01"]);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines[0]).toMatchObject({ type: "device", device: "pi-01", inFleet: true, presence: "unregistered", declared: [{ id: "pi-01", labels: { env: "prod" } }] });
    const assignments = lines.filter((l) => l.type === "assignment");
    expect(assignments.map((a) => [a["assignment"], a["matches"]])).toEqual([
      ["@all", true],
      ["env=prod", true],
      ["evn=prod", false],
    ]);
    expect(assignments[2]).toMatchObject({ gives: [{ deployment: "api" }], explanation: { selector: "evn=prod", verdict: false } });
    expect(lines.filter((l) => l.type === "desired").map((l) => l["deployment"])).toEqual(["metrics", "web"]);
    expect(lines.filter((l) => l.type === "report").map((l) => [l["deployment"], l["published"] ?? null])).toEqual([
      ["metrics", null],
      ["web", null],
    ]);
    const missing = await ws.fleet(["explain", NT, "--json", "typo.ts", "ghost-01"]);
    expect(missing.code).toBe(1);
    expect(jsonLines(missing.stdout)).toEqual([expect.objectContaining({ type: "error", message: expect.stringContaining("ghost-01") })]);
  });
});
