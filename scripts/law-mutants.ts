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
  { id: "agent-no-refollow-after-reconnect", file: "src/agent/Step.ts", from: "return startFollow({ ...s, force: true }, fx, \"reconnect\");", to: "return { ...s, force: true };", what: "the agent re-registers after a reconnect but does not re-read desired state" },
  { id: "agent-no-stale-check", file: "src/agent/Accept.ts", from: "if (known !== undefined && input.revision <= known)", to: "if (known !== undefined && input.revision < 0)", what: "the agent takes a late notification over a newer entry" },
  { id: "agent-no-generation-check", file: "src/agent/Step.ts", from: "EntrySeen: (e) => (e.generation !== s.generation ?", to: "EntrySeen: (e) => (e.generation < 0 ?", what: "the agent takes entries of a superseded follow" },
  { id: "agent-no-previous-states-retry", file: "src/agent/Step.ts", from: "fx.push({ _tag: \"Later\", ms: s.config.retryMs, event: { _tag: \"RetryDue\", job: \"ReadPreviousStates\" } });", to: "void 0;", what: "an agent that cannot read its previous device-state never removes what a previous run left" },
  { id: "agent-failed-write-not-reverted", file: "src/agent/Step.ts", from: "const sent = sameReportedState(s.sent.get(e.deployment), e.state) ? revert(s, e.deployment) : s.sent;", to: "const sent = s.sent;", what: "a failed state report is taken as written and never retried" },
  { id: "agent-reconcile-partial-view", file: "src/agent/Step.ts", from: "if (O.isNone(s.view)) return s;\n  if (O.isSome(s.pass))", to: "if (O.isNone(s.view)) return O.isSome(s.snapshot) && O.isNone(s.pass) ? startPass(s, fx, s.snapshot.value) : s;\n  if (O.isSome(s.pass))", what: "the agent reconciles a follow's snapshot before it caught up" },
  { id: "agent-late-ack-overwrites", file: "src/agent/Step.ts", from: "if ((s.acked.get(deployment) ?? 0) > seq) return st;", to: "void 0;", what: "a late acknowledgement of an older write overwrites what the agent knows is stored" },
  { id: "tampered-entry-trusted", file: "src/diff/Diff.ts", from: "} else if (p.specHash === e.specHash && p.tampered === undefined) {", to: "} else if (p.specHash === e.specHash) {", what: "a published entry whose spec does not hash to its hash is trusted as up to date" },
  { id: "merkle-sides-swapped", file: "src/trust/Merkle.ts", from: "} else r = nodeHash(r, p);", to: "} else r = nodeHash(p, r);", what: "an inclusion proof is walked with left and right siblings confused" },
  { id: "revoked-key-trusted", file: "src/trust/Keys.ts", from: "if (k.revoked !== undefined) return E.left(", to: "if (k.revoked === null) return E.left(", what: "a revoked key still verifies entries" },
  { id: "spec-hash-unchecked", file: "src/trust/SignedEntry.ts", from: "if (ctx.statedSpecHash !== ctx.actualSpecHash) return", to: "if (ctx.statedSpecHash === null) return", what: "an entry whose spec does not hash to its signed spec hash is accepted" },
  { id: "device-writes-any-state", file: "src/interpreters/nats/Credentials.ts", from: "`${subjectPrefixOf(BUCKET.state)}${id}.>`,", to: "`${subjectPrefixOf(BUCKET.state)}*.>`,", what: "a device may write every device's observed state" },
  { id: "agent-replay-accepted", file: "src/agent/Accept.ts", from: "if (last !== undefined && signed <= last.revision && !again)", to: "if (last !== undefined && signed < 0 && !again)", what: "the agent accepts an older signed revision after a newer one (a replay)" },
  { id: "agent-runs-unverified", file: "src/agent/Accept.ts", from: "if (E.isLeft(verified)) return untrusted", to: "if (E.isLeft(verified) && verified.left._tag === \"Unsigned\") return untrusted", what: "the agent runs entries whose signature does not verify" },
  { id: "agent-accepted-not-persisted", file: "src/agent/Step.ts", from: "      fx.push({ _tag: \"PersistAccepted\", accepted: st.accepted });", to: "      void 0;", what: "the agent does not persist what it accepted: a replay after a restart is accepted" },
  { id: "expiry-unchecked", file: "src/trust/SignedEntry.ts", from: "if (ctx.now.getTime() >= expiresAt.getTime()) return", to: "if (ctx.now.getTime() < 0) return", what: "expired entries are accepted" },
  { id: "redeclared-not-left-alone", file: "src/diff/Targets.ts", from: "if (!leftAlone.has(id)) leftAlone.set(id, { _tag: \"Redeclared\", declarations });", to: "void declarations;", what: "a device declared twice differently is diffed (as its first declaration)" },
  { id: "clash-not-frozen", file: "src/diff/Diff.ts", from: "  if (clashing.length > 0)\n", to: "  if (clashing.length > 99)\n", what: "a device whose deployments clash is planned anyway" },
  { id: "clash-ignores-kept-entries", file: "src/diff/Diff.ts", from: "if (res.conflicted.size === 0 || published === undefined) return res.clashes;", to: "return res.clashes;", what: "the clash check forgets the published entries a deployment conflict keeps" },
  { id: "clash-same-address", file: "src/diff/Clash.ts", from: "everyAddress(a) || everyAddress(b) || a.hostIp === b.hostIp;", to: "everyAddress(a) || everyAddress(b);", what: "two bindings of one port on one specific address are not seen as a clash" },
  { id: "ledger-not-kept", file: "src/interpreters/memory/index.ts", from: "const rollouts = applyLedger(state.rollouts, plan.ledger);", to: "const rollouts = applyLedger(state.rollouts, []);", what: "an interpreter drops a plan's rollout ledger records (conformance: ledgers survive apply → read)" },
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
