/**
 * Order as data: every ordering of domain values is an fp-ts `Ord` next to
 * its type. This check reads `src/**\/*.ts` and fails on what slips past
 * that rule: a hand-written comparator (`a < b ? -1 : …`, `x.p - y.p || …`,
 * `localeCompare`), an inline comparator given to `sort`, or a bare
 * `.sort()` (code-unit order by accident, and an `Ord` nobody can reuse).
 * Write `.sort(OrdX.compare)` with `OrdX` built from `contramap`, `S.Ord`,
 * `N.Ord` and `getMonoid`.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

const RULES: ReadonlyArray<{ readonly name: string; readonly pattern: RegExp }> = [
  { name: "hand-written comparator (? -1 :)", pattern: /\?\s*-1\s*:|\?\s*1\s*:\s*-1\b/ },
  { name: "subtraction comparator (x.p - y.p ||)", pattern: /\b\w+\.(\w+)\s*-\s*\w+\.\1\s*\|\|/ },
  { name: "localeCompare", pattern: /\.localeCompare\(/ },
  { name: "inline comparator passed to sort", pattern: /\.(?:sort|toSorted)\(\s*(?:\(|function\b|async\b|\w+\s*=>)/ },
  { name: "bare .sort()", pattern: /\.(?:sort|toSorted)\(\s*\)/ },
];

const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );

/** Code without comments (line-based: JSDoc lines and `//` comments), so that prose may show the patterns. */
const codeLines = (text: string): ReadonlyArray<readonly [number, string]> =>
  text.split("\n").flatMap((line, i): Array<readonly [number, string]> => {
    const t = line.trim();
    if (t.startsWith("*") || t.startsWith("/*") || t.startsWith("//")) return [];
    return [[i + 1, line.replace(/\s\/\/\s.*$/, "")]];
  });

export const violations = (file: string, text: string): ReadonlyArray<string> =>
  codeLines(text).flatMap(([n, line]) => RULES.filter((r) => r.pattern.test(line)).map((r) => `${file}:${n}: ${r.name}: ${line.trim()}`));

describe("order as data", () => {
  it("no hand-written comparator or bare sort in src/", () => {
    const found = sources(join(ROOT, "src")).flatMap((f) => violations(relative(ROOT, f), readFileSync(f, "utf8")));
    expect(found).toEqual([]);
  });

  it("the check itself catches each kind", () => {
    const bad = [
      "xs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));",
      "const byName = (a: A, b: A): number => (a.name < b.name ? -1 : 1);",
      "const byPrio = (a: A, b: A) => b.priority - a.priority || 0;",
      "names.sort();",
      "xs.sort((a, b) => a.id.localeCompare(b.id));",
      "ys.toSorted(x => x);",
    ];
    // The inline comparators with `? -1 :` or localeCompare break two rules at once.
    expect(bad.map((l) => violations("x.ts", l).length)).toEqual([2, 1, 1, 1, 2, 1]);
    expect(violations("x.ts", "xs.sort(OrdDevice.compare);\n// a < b ? -1 : 1 in prose\n * a.sort() in a doc comment")).toEqual([]);
  });
});
