/**
 * The page's files ship in the package and are found from both layouts: the
 * sources run by tsx (`src/cli/dashboard/`) and the build (`dist/cli/dashboard/`).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { ASSETS, assetsDir, loadAssets } from "../../src/cli/dashboard/Assets.ts";
import { REPO } from "../cli/support.ts";

const SRC_ASSETS = join(REPO, "src", "cli", "dashboard", "assets");

describe("dashboard assets", () => {
  it("are found next to the module when it runs from src/", () => {
    expect(assetsDir(pathToFileURL(join(REPO, "src", "cli", "dashboard", "Assets.ts")).href)).toBe(`${SRC_ASSETS}/`);
  });

  it("are found from the built module in dist/ (tsc copies no assets; src/ ships in the package)", () => {
    expect(assetsDir(pathToFileURL(join(REPO, "dist", "cli", "dashboard", "Assets.js")).href)).toBe(`${SRC_ASSETS}/`);
  });

  it("are absent, not guessed, where there is no package around the module", () => {
    expect(assetsDir("file:///nonexistent/a/b/c/Assets.js")).toBeUndefined();
  });

  it("every served path has its file, and every file is served", async () => {
    const loaded = await loadAssets(SRC_ASSETS);
    expect([...loaded.keys()].sort()).toEqual([...ASSETS.keys()].sort());
    for (const a of ASSETS.values()) expect(existsSync(join(SRC_ASSETS, a.file))).toBe(true);
  });

  it("are in the npm package (npm pack --dry-run)", () => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: REPO, encoding: "utf8" });
    const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
    for (const a of ASSETS.values()) expect(files).toContain(`src/cli/dashboard/assets/${a.file}`);
    expect(files).toContain("src/cli/dashboard/Assets.ts");
  });
});
