/**
 * Breaks the code on purpose, one mutant at a time, runs the law suites, and
 * reports which laws caught each break (the evidence behind docs/laws.md).
 *
 *   npx tsx scripts/law-mutants.ts            # all mutants
 *   npx tsx scripts/law-mutants.ts not-ignored  # one by id
 *
 * Each mutant is a literal text replacement in one source file; the file is
 * restored afterwards, even on failure. A mutant whose text is not found is a
 * script error (the code moved on; update the mutant).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

interface Mutant {
  readonly id: string;
  readonly file: string;
  readonly from: string;
  readonly to: string;
  readonly what: string;
}

export const mutants: ReadonlyArray<Mutant> = [
  { id: "not-ignored", file: "src/selectors/Selector.ts", from: "return (d) => !p(d);", to: "return (d) => p(d);", what: "`not` compiles to its operand" },
  { id: "or-first-only", file: "src/selectors/Selector.ts", from: "for (const p of ps) if (p(d)) return true;", to: "if (ps[0]?.(d)) return true;", what: "`or` only looks at its first operand" },
  { id: "notequals-needs-key", file: "src/selectors/Selector.ts", from: "LabelNotEquals: ({ key, value }) => (d) => d.labels[key] !== value,", to: "LabelNotEquals: ({ key, value }) => (d) => d.labels[key] !== undefined && d.labels[key] !== value,", what: "`k!=v` no longer matches devices without `k` (not Kubernetes semantics)" },
  { id: "print-or-unparenthesised", file: "src/selectors/Print.ts", from: "return level === \"or\" ? s : `(${s})`;", to: "return s;", what: "a disjunction inside a conjunction is printed without parentheses" },
  { id: "fleet-union-drops-right", file: "src/algebra/Fleet.ts", from: "fromSorted(merge(self.devices, that.devices, { leftOnly: true, both: true, rightOnly: true }))", to: "fromSorted(merge(self.devices, that.devices, { leftOnly: true, both: true, rightOnly: false }))", what: "fleet union forgets devices only the right operand has" },
  { id: "world-merge-unsorted", file: "src/world/World.ts", from: "assignments: uniqueSorted(assignments, OrdAssignment.compare),", to: "assignments: Object.freeze([...assignments]),", what: "merging worlds keeps insertion order (and duplicates)" },
  { id: "lowest-priority-wins", file: "src/diff/Resolve.ts", from: "const top = Math.max(...list.map((o) => o.assignment.priority));", to: "const top = Math.min(...list.map((o) => o.assignment.priority));", what: "the lowest priority wins" },
  { id: "cache-key-drops-last", file: "src/diff/Resolve.ts", from: "for (let i = 0; i < n; i++) if ((predicates[i] as (d: Device) => boolean)(d)) mask |= 1 << i;", to: "for (let i = 0; i < n - 1; i++) if ((predicates[i] as (d: Device) => boolean)(d)) mask |= 1 << i;", what: "the resolution cache ignores the last assignment's verdict" },
  { id: "no-orphan-deletes", file: "src/diff/Diff.ts", from: "if (t.fleet.byId.has(device) || t.leftAlone.has(device)) continue;", to: "continue;", what: "entries of devices removed from the fleet are never deleted" },
  { id: "spurious-update", file: "src/diff/Diff.ts", from: "} else if (p.specHash === e.specHash) {", to: "} else if (p.specHash === e.specHash && p.fingerprint.startsWith(\"sha256:\")) {", what: "entries already as desired are updated again" },
  { id: "damaged-not-frozen", file: "src/diff/Targets.ts", from: "for (const [id, why] of reality.damaged) leftAlone.set(id, { _tag: \"Unreadable\", why });", to: "void reality.damaged;", what: "devices with unreadable records are diffed as if their records were absent" },
  { id: "delete-keeps-entry", file: "src/diff/Apply.ts", from: "if (entry === undefined) m.delete(name);", to: "if (entry === undefined) void 0;", what: "applying a delete keeps the entry (reference and memory interpreter)" },
  { id: "memory-no-stale-check", file: "src/interpreters/memory/index.ts", from: "if (stale.length > 0) return { _tag: \"Stale\", stale };", to: "void stale;", what: "the memory interpreter applies stale plans" },
  { id: "conflict-silently-first", file: "src/diff/Resolve.ts", from: "if (hashes.size > 1) {", to: "if (hashes.size > 99) {", what: "conflicting specs at one priority are resolved silently (first wins)" },
  { id: "redeclared-not-left-alone", file: "src/diff/Targets.ts", from: "if (!leftAlone.has(id)) leftAlone.set(id, { _tag: \"Redeclared\", declarations });", to: "void declarations;", what: "a device declared twice differently is diffed (as its first declaration)" },
  { id: "clash-not-frozen", file: "src/diff/Diff.ts", from: "  if (clashing.length > 0)\n", to: "  if (clashing.length > 99)\n", what: "a device whose deployments clash is planned anyway" },
  { id: "clash-ignores-kept-entries", file: "src/diff/Diff.ts", from: "if (res.conflicted.size === 0 || published === undefined) return res.clashes;", to: "return res.clashes;", what: "the clash check forgets the published entries a deployment conflict keeps" },
  { id: "clash-same-address", file: "src/diff/Clash.ts", from: "everyAddress(a) || everyAddress(b) || a.hostIp === b.hostIp;", to: "everyAddress(a) || everyAddress(b);", what: "two bindings of one port on one specific address are not seen as a clash" },
];

const runLaws = (): { failed: string[]; passed: boolean } => {
  const r = spawnSync("npx", ["vitest", "run", "test/laws", "--reporter=json"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const start = r.stdout.indexOf("{");
  const report = JSON.parse(r.stdout.slice(start)) as {
    testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
  };
  const failed = report.testResults.flatMap((f) =>
    f.assertionResults.filter((a) => a.status === "failed").map((a) => `${f.name.replace(/^.*\/test\//, "test/")}: ${a.fullName}`),
  );
  return { failed, passed: failed.length === 0 };
};

const only = process.argv[2];
const results: string[] = [];
let escaped = 0;
for (const m of mutants.filter((x) => only === undefined || x.id === only)) {
  const original = readFileSync(m.file, "utf8");
  if (!original.includes(m.from)) throw new Error(`mutant ${m.id}: text not found in ${m.file}`);
  try {
    writeFileSync(m.file, original.replace(m.from, m.to));
    const { failed } = runLaws();
    if (failed.length === 0) escaped++;
    results.push(`- **${m.id}** (${m.file}): ${m.what} — ${failed.length === 0 ? "NOT CAUGHT" : `caught by ${failed.length} test(s):`}`);
    for (const f of failed.slice(0, 6)) results.push(`  - ${f}`);
    if (failed.length > 6) results.push(`  - … and ${failed.length - 6} more`);
  } finally {
    writeFileSync(m.file, original);
  }
}
console.log(results.join("\n"));
if (escaped > 0) {
  console.error(`${escaped} mutant(s) escaped the laws`);
  process.exit(1);
}
