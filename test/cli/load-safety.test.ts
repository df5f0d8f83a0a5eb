/**
 * End to end: fleet files that misbehave while loading, and errors that point
 * at the cause. Each case ends with exit code 1 and one `Error:` line naming
 * the file (a selector error adds the quoted selector and a caret); never an
 * internal error, never exit 0 or 13, nothing applied, no lock left behind.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";
const SLOW = 180_000;

const web = `import { assign, deployment, device, podman, world, label, not, and, or, type Selector } from "fleet-algebra";
const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4" }] }));`;

const FILES: Readonly<Record<string, string>> = {
  "exit.ts": `process.exit(0);\nexport default 1;\n`,
  "exit-later.ts": `setTimeout(() => process.exit(3), 10);\nawait new Promise((r) => setTimeout(r, 2000));\nexport default 1;\n`,
  "never.ts": `export default new Promise(() => {});\n`,
  "tla.ts": `await new Promise(() => {});\nexport default 1;\n`,
  "never-function.ts": `export default () => new Promise(() => {});\n`,
  "slow.ts": `setInterval(() => {}, 1000);\nexport default new Promise(() => {});\n`,
  "cyclic-inventory.ts": `${web}
const inventory: Record<string, unknown> = { cpu: "a72" };
inventory["self"] = inventory;
export default world({ fleet: [device("pi-01", { inventory })], assignments: [assign("@all", web)] });
`,
  "bigint-inventory.ts": `${web}
export default world({ fleet: [device("pi-01", { inventory: { mem: 10n } })], assignments: [assign("@all", web)] });
`,
  "deep-selector.ts": `${web}
let s: Selector = label("a", "1");
for (let i = 0; i < 700; i++) s = i % 2 ? and(not(s), label("b", "1")) : or(not(s), label("c", "2"));
export default world({ assignments: [assign(s, web, { name: "deep" })] });
`,
  "cyclic-selector.ts": `const s: Record<string, unknown> = { _tag: "Not" };
s["operand"] = s;
export default { _tag: "World", fleet: { _tag: "None" }, assignments: [{ _tag: "Assignment", selector: s, priority: 0, name: "x", deployments: [] }] };
`,
  "deep-text.ts": `${web}
export default world({ assignments: [assign("${"(".repeat(10_000)}a=1${")".repeat(10_000)}", web)] });
`,
  "bad-selector.ts": `${web}
export default world({
  assignments: [
    assign("env in (prod, staging", web),
  ],
});
`,
};

/** One `Error:` line (plus, for a selector, its quote and caret), exit 1, no internal error. */
const expectOneError = (r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void => {
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.code).toBe(1);
};

describe("fleet files that misbehave while loading", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    for (const [name, text] of Object.entries(FILES)) await ws.write(name, text);
    await ws.write("fleets/keep.txt", "");
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("process.exit while loading: one line, exit 1, nothing applied, no lock left", async () => {
    const r = await ws.fleet(["apply", NT, "--auto-approve", "exit.ts"]);
    expectOneError(r, /^Error: exit\.ts called process\.exit\(0\) while loading\n$/);
    expect(existsSync(join(ws.dir, ".fleet", "state.records"))).toBe(false);
    const left = existsSync(join(ws.dir, ".fleet")) ? await readdir(join(ws.dir, ".fleet")) : [];
    expect(left).toEqual([]);
    // From a timer of the file, while its top-level await runs.
    expectOneError(await ws.fleet(["plan", NT, "exit-later.ts"]), /^Error: exit-later\.ts called process\.exit\(3\) while loading\n$/);
  });

  it("a load that can never finish (exported promise, top-level await, exported function): one line at once, not exit 13", async () => {
    for (const f of ["never.ts", "tla.ts", "never-function.ts"]) {
      const r = await ws.fleet(["plan", NT, f]);
      expectOneError(r, new RegExp(`^Error: ${f.replace(".", "\\.")}: loading can never finish: it awaits a promise that nothing is left to settle`));
    }
  });

  it("a load that keeps waiting is cut off by --load-timeout; a bad value is a usage error", async () => {
    expectOneError(await ws.fleet(["plan", NT, "--load-timeout", "1s", "slow.ts"]), /^Error: slow\.ts: did not finish loading within 1s \(--load-timeout changes the limit\)\n$/);
    expectOneError(await ws.fleet(["validate", "--load-timeout", "soon", "slow.ts"]), /^Error: --load-timeout: expected a duration like 30s, 500ms or 5m, got "soon"/);
  });

  it("cyclic or BigInt inventories, cyclic or 700-deep selectors: one line naming the file and the field", async () => {
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      ["cyclic-inventory.ts", /^Error: cyclic-inventory\.ts: default export: fleet\.value\.devices\.0\.inventory\.self: a cycle: refers back to fleet\.value\.devices\.0\.inventory\n$/],
      ["bigint-inventory.ts", /^Error: bigint-inventory\.ts: default export: fleet\.value\.devices\.0\.inventory\.mem: a BigInt \(10n\), which JSON cannot carry: use a number or a string\n$/],
      ["deep-selector.ts", /^Error: deep-selector\.ts: default export: assignments\.0\.selector\..*: nested more than 400 levels deep\n$/],
      ["cyclic-selector.ts", /^Error: cyclic-selector\.ts: default export: assignments\.0\.selector\.operand: a cycle: refers back to assignments\.0\.selector\n$/],
    ];
    for (const [f, pattern] of cases) expectOneError(await ws.fleet(["plan", NT, f]), pattern);
  });

  it("a selector error names the file and line, quotes the selector and puts a caret under the column", async () => {
    const r = await ws.fleet(["plan", NT, "bad-selector.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "Error: bad-selector.ts:5: could not load: InvalidSelectorError: expected a value, ',' or ')', found end of input at column 22\n" +
        "  env in (prod, staging\n" +
        "                       ^\n",
    );
    const deep = await ws.fleet(["plan", NT, "deep-text.ts"]);
    expect(deep.code).toBe(1);
    expect(deep.stderr).toMatch(/^Error: deep-text\.ts:3: could not load: InvalidSelectorError: groups nested more than 100 deep at column 101\n  …\(+…\n +\^\n$/);
  });

  it("a missing file or a directory is one line before any type check", { timeout: SLOW }, async () => {
    for (const command of ["plan", "validate"]) {
      expectOneError(await ws.fleet([command, "fleets/does-not-exist.ts"]), /^Error: fleets\/does-not-exist\.ts: no such file\n$/);
      expectOneError(await ws.fleet([command, "fleets/"]), /^Error: fleets\/: is a directory; name the fleet files in it \(e\.g\. fleets\/\*\.ts\)\n$/);
    }
  });

  it("an unknown command or flag suggests the nearest one", async () => {
    expectOneError(await ws.fleet(["pln", "x.ts"]), /^Error: unknown command "pln" \(did you mean plan\?\) \(see 'fleet --help'\)\n$/);
    expectOneError(await ws.fleet(["plan", "--no-typechek", "x.ts"]), /^Error: unknown flag --no-typechek \(did you mean --no-typecheck\?\) \(see 'fleet plan --help'\)\n$/);
    expectOneError(await ws.fleet(["--verison"]), /^Error: unknown flag --verison \(did you mean --version\?\)/);
    expectOneError(await ws.fleet(["frobnicate"]), /^Error: unknown command "frobnicate" \(see 'fleet --help'\)\n$/);
  });
});
