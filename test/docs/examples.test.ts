/**
 * Runs every ```ts example in docs/api.md, so the API docs stay true. Each
 * block runs in its own scope with the package root's exports and `assert`
 * in scope; a block's own `import` lines are hoisted to the top.
 */
import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import * as api from "../../src/index.ts";

const root = path.resolve(import.meta.dirname, "../..");
const blocks = [...readFileSync(path.join(root, "docs/api.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);

describe("docs/api.md examples", () => {
  it("has examples", () => expect(blocks.length).toBeGreaterThan(15));

  it("every example runs", () => {
    const names = Object.keys(api).join(", ");
    const imports = new Set<string>();
    const bodies = blocks.map((b, i) => {
      const lines = b.split("\n");
      for (const l of lines.filter((l) => l.startsWith("import "))) imports.add(l);
      const body = lines.filter((l) => !l.startsWith("import ")).join("\n");
      return `await (async () => { // example ${i + 1}\n${body}\n})().catch((e) => { console.error("example ${i + 1} failed:", e); process.exitCode = 1; });`;
    });
    const dir = mkdtempSync(path.join(root, ".examples-"));
    try {
      const file = path.join(dir, "examples.ts");
      writeFileSync(
        file,
        [
          `import assert from "node:assert/strict";`,
          `import * as api from "${path.join(root, "src/index.ts")}";`,
          `import type { DeviceId, DeploymentName } from "${path.join(root, "src/index.ts")}";`,
          ...imports,
          `const { ${names} } = api;`,
          ...bodies,
        ].join("\n"),
      );
      const r = spawnSync(process.execPath, ["--import", "tsx", file], { encoding: "utf8", cwd: root });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
