/**
 * Breaks the code on purpose, one mutant at a time, runs the law suites, and
 * reports which laws caught each break (the evidence behind docs/laws.md).
 *
 *   npx tsx scripts/law-mutants.ts            # all mutants
 *   npx tsx scripts/law-mutants.ts not-ignored  # one by id
 *   LAWS=test/laws/rollout.test.ts npx tsx scripts/law-mutants.ts wave-rest-uncovered  # against one suite
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
  /** The tests to run (default test/laws); a law that needs a real server lives with the server's tests. */
  readonly suite?: string;
}

export const mutants: ReadonlyArray<Mutant> = [
  { id: "not-ignored", file: "src/selectors/Selector.ts", from: "return (d) => !p(d);", to: "return (d) => p(d);", what: "`not` compiles to its operand" },
  { id: "or-first-only", file: "src/selectors/Selector.ts", from: "for (const p of ps) if (p(d)) return true;", to: "if (ps[0]?.(d)) return true;", what: "`or` only looks at its first operand" },
  { id: "notequals-needs-key", file: "src/selectors/Selector.ts", from: "LabelNotEquals: ({ key, value }) => (d) => d.labels[key] !== value,", to: "LabelNotEquals: ({ key, value }) => (d) => d.labels[key] !== undefined && d.labels[key] !== value,", what: "`k!=v` no longer matches devices without `k` (not Kubernetes semantics)" },
  { id: "print-or-unparenthesised", file: "src/selectors/Print.ts", from: "return level === \"or\" ? s : `(${s})`;", to: "return s;", what: "a disjunction inside a conjunction is printed without parentheses" },
  { id: "fleet-union-drops-right", file: "src/algebra/Fleet.ts", from: "fromSorted(merge(self.devices, that.devices, { leftOnly: true, both: true, rightOnly: true }))", to: "fromSorted(merge(self.devices, that.devices, { leftOnly: true, both: true, rightOnly: false }))", what: "fleet union forgets devices only the right operand has" },
  { id: "world-merge-unsorted", file: "src/world/World.ts", from: "assignments: uniqueSorted(assignments, OrdAssignment),", to: "assignments: Object.freeze([...assignments]),", what: "merging worlds keeps insertion order (and duplicates)" },
  { id: "lowest-priority-wins", file: "src/diff/Resolve.ts", from: "const top = Math.max(...list.map((o) => o.assignment.priority));", to: "const top = Math.min(...list.map((o) => o.assignment.priority));", what: "the lowest priority wins" },
  { id: "cache-key-drops-last", file: "src/diff/Resolve.ts", from: "for (let i = 0; i < n; i++) if ((predicates[i] as (d: Device) => boolean)(d)) mask |= 1 << i;", to: "for (let i = 0; i < n - 1; i++) if ((predicates[i] as (d: Device) => boolean)(d)) mask |= 1 << i;", what: "the resolution cache ignores the last assignment's verdict" },
  { id: "no-orphan-deletes", file: "src/diff/Diff.ts", from: "if (t.fleet.byId.has(device) || t.leftAlone.has(device)) continue;", to: "continue;", what: "entries of devices removed from the fleet are never deleted" },
  { id: "spurious-update", file: "src/diff/Diff.ts", from: "} else if (p.specHash === e.specHash && p.tampered === undefined) {", to: "} else if (p.specHash === e.specHash && p.tampered === undefined && p.fingerprint.startsWith(\"sha256:\")) {", what: "entries already as desired are updated again" },
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
  { id: "signing-thread-tree-reversed", file: "src/trust/SigningWorker.ts", from: "trees.push(signTree(claims.slice(from, from + ENTRIES_PER_TREE).map(leafText), key, options));", to: "trees.push(signTree(claims.slice(from, from + ENTRIES_PER_TREE).map(leafText).reverse(), key, options));", what: "the signing thread signs a tree's leaves in the wrong order" },
  { id: "signing-thread-tree-offsets", file: "src/trust/SigningWorker.ts", from: "entrySignatures(claims.slice(k * ENTRIES_PER_TREE, (k + 1) * ENTRIES_PER_TREE), tree)", to: "entrySignatures(claims.slice(k, k + ENTRIES_PER_TREE), tree)", what: "the signing thread's trees are matched to the wrong entries when a call spans several trees" },
  { id: "signed-batch-offsets", file: "src/trust/SignedBatch.ts", from: "bytes.subarray(i === 0 ? 0 : (ends[i - 1] as number), ends[i] as number)", to: "bytes.subarray(i === 0 ? 0 : (ends[i - 1] as number) + 1, ends[i] as number)", what: "a batch from the signing thread hands out the wrong bytes for an entry's signature" },
  { id: "signing-thread-waits-forever", file: "src/trust/SigningThread.ts", from: "if (t.pending.has(id)) void retire(t).catch(() => undefined);", to: "void id;", what: "a request the signing worker does not answer is waited for forever" },
  { id: "watch-waits-for-quiet", file: "src/interpreters/nats/Watch.ts", from: "if (stopped || !behind || asking) return;", to: "if (stopped || !behind || asking) return;\n    if (Date.now() > 0) return void arm();", what: "a watch whose per-message pending count stays above zero never asks the consumer while deliveries go on (a bulk read of a busy bucket never ends)", suite: "test/nats/scan-busy.test.ts" },
  { id: "sorted-map-shortcut-unchecked", file: "src/algebra/SortedMap.ts", from: "if (next < ks.length && ks[next] === k) return (this.last = next);", to: "if (next < ks.length && ks[next] >= k) return (this.last = next);", what: "a SortedMap lookup answers with the key after the last one found when the key asked for is absent" },
  { id: "edited-map-size-ignores-removals", file: "src/algebra/EditedMap.ts", from: "if (had && v === undefined) size--;", to: "if (had && v === undefined) void 0;", what: "an edited map still counts the keys an edit removed" },
  { id: "edited-map-forgets-new-keys", file: "src/algebra/EditedMap.ts", from: "for (const [k, c] of this.changes) if (c !== undefined && !this.base.has(k)) yield [k, c];", to: "void 0;", what: "iterating an edited map skips the keys the edit added (a first apply's devices would never be written)" },
  { id: "follow-trusts-stale-read", file: "src/interpreters/nats/Follow.ts", from: "if (missed > rechecks) return;", to: "if (missed > 0) return;", what: "an agent takes a direct get older than its notification as the answer (a cluster replica behind leaves it a write behind until its next resync)", suite: "test/nats/follow.test.ts" },
  { id: "follow-notice-ignores-bytes", file: "src/interpreters/nats/Follow.ts", from: "(n.operation !== \"PUT\" || sameBytes(n.value, e.value))", to: "true", what: "any value read counts as the one notified (a replica's previous value too)", suite: "test/nats/follow.test.ts" },
  { id: "agent-follow-expects-nothing", file: "src/agent/Step.ts", from: "fx.push({ _tag: \"Follow\", generation, reason, expected: expectedDeployments(s) });", to: "fx.push({ _tag: \"Follow\", generation, reason, expected: [] });", what: "a fresh follow expects nothing: a snapshot that comes back short stops what the agent runs", suite: "test/laws/agent-model.test.ts" },
  { id: "agent-follow-expects-view-only", file: "src/agent/Step.ts", from: "sortedNames(O.isSome(s.view) ? new Map<DeploymentName, unknown>([...s.stored, ...s.view.value]) : s.stored);", to: "sortedNames(O.isSome(s.view) ? s.view.value : new Map());", what: "a restarted agent (no view yet) expects nothing it reported: a short snapshot stops what it runs", suite: "test/laws/agent-model.test.ts" },
  { id: "follow-catches-up-past-failed-reads", file: "src/interpreters/nats/Follow.ts", from: "for (const l of later.values()) if (l.blocks) return;", to: "", what: "a follow catches up while a read of an expected key is failing (the agent's view lacks what it runs, and stops it)", suite: "test/nats/follow.test.ts" },
  { id: "follow-gives-up-expected-failures", file: "src/interpreters/nats/Follow.ts", from: "(failed < 5 || p.notice === EXPECTED)", to: "failed < 5", what: "a follow gives up reading an expected key after 5 failed reads and catches up without it (the agent stops what it runs)", suite: "test/nats/follow.test.ts" },
  { id: "follow-trusts-absent-expected", file: "src/interpreters/nats/Follow.ts", from: "if (e !== undefined && (p.notice === EXPECTED || found(p.notice, e))) return;", to: "if (p.notice === EXPECTED || (e !== undefined && found(p.notice, e))) return;", what: "an expected key that a replica behind says does not exist is taken as gone (the agent stops what it runs)", suite: "test/nats/follow.test.ts" },
  { id: "follow-catches-up-unchanged", file: "src/interpreters/nats/Follow.ts", from: "if (!changed) return;", to: "", what: "a follow signals catching up after reads that took nothing (a refused write, each re-read: one reconcile pass each)", suite: "test/nats/follow.test.ts" },
  { id: "follow-trusts-short-snapshot", file: "src/interpreters/nats/Follow.ts", from: "for (const key of options.expected ?? [])", to: "for (const key of [] as string[])", what: "a follow's snapshot that ends short is trusted: keys the agent runs look removed (it would stop them until its next resync)", suite: "test/nats/follow.test.ts" },
  { id: "packed-entry-wrong-fingerprint", file: "src/interpreters/local/PackedEntries.ts", from: "for (let k = 0; k < i; k++) from = p.indexOf(\" \", from) + 1;", to: "for (let k = 1; k < i; k++) from = p.indexOf(\" \", from) + 1;", what: "a local state's entry looked up by name carries another entry's fingerprint (a compare-and-set against the wrong revision)", suite: "test/cli/state-store.test.ts" },
  { id: "packed-entries-skip-priors", file: "src/interpreters/local/PackedEntries.ts", from: "return prior === undefined ? entry : { ...entry, prior };", to: "return entry;", what: "a local state's entries forget the prior spec a staged rollout recorded (rollback restores nothing)", suite: "test/cli/state-store.test.ts" },
  { id: "state-revision-leading-zero", file: "src/interpreters/local/StateRecords.ts", from: "if (digits === 0 || digits > 15 || (digits > 1 && text.charCodeAt(first) === 48)) break;", to: "if (digits === 0 || digits > 15) break;", what: "a local state's fingerprint `r01.<lineage>` is read as revision 1 (written back as `r1.…`: a compare-and-set that never matches)", suite: "test/cli/state-store.test.ts" },
  { id: "state-revision-other-lineage", file: "src/interpreters/local/StateRecords.ts", from: "if (text.charCodeAt(at) !== 46 /* . */ || !text.startsWith(suffix, at + 1)) break;", to: "if (text.charCodeAt(at) !== 46 /* . */) break;", what: "a fingerprint of another lineage is read as this state's own revision", suite: "test/cli/state-store.test.ts" },
  { id: "state-write-packed-spelling", file: "src/interpreters/local/StateRecords.ts", from: "p.slots.map((slot) => `${slot.name}:${slot.index}`).join(\",\") === p.text;", to: "true;", what: "a hand-edited desired column (`db:00`) is written back as it was spelled, not as fleet writes it", suite: "test/cli/state-store.test.ts" },
  { id: "state-write-packed-prints-unchecked", file: "src/interpreters/local/StateRecords.ts", from: "(prints = m.printsText()) !== undefined && PRINTS.test(prints)", to: "(prints = m.printsText()) !== undefined", what: "fingerprints that are not plain tokens are written back bare, not as JSON", suite: "test/cli/state-store.test.ts" },
  { id: "scan-takes-a-short-read", file: "src/interpreters/nats/Scan.ts", from: "if (before === undefined || got.length >= before) return got;", to: "return got;", what: "a whole-bucket read that found fewer keys than the bucket held (a lagging cluster member) is taken as the fleet", suite: "test/nats/scan-complete.test.ts" },
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
  { id: "agent-health-not-news", file: "src/agent/State.ts", from: "a.error === b.error && a.health === b.health);", to: "a.error === b.error);", what: "a change of health alone (starting → healthy → unhealthy) is not reported" },
  { id: "agent-clears-only-sent", file: "src/agent/Step.ts", from: "sortedNames(new Map([...st.stored, ...st.sent]))", to: "sortedNames(st.sent)", what: "a state whose identical earlier write failed late is never cleared when its deployment goes" },
  { id: "health-check-in-every-hash", file: "src/algebra/Deployment.ts", from: "...(s.healthcheck !== undefined ? { healthcheck: normaliseHealthCheck(s.healthcheck) } : {}),", to: "healthcheck: s.healthcheck !== undefined ? normaliseHealthCheck(s.healthcheck) : null,", what: "a service without a health check hashes differently than before health checks existed" },
  { id: "fleet-sorted-keeps-repeats", file: "src/algebra/Fleet.ts", from: "increasing = (list[i - 1] as Device).id < (list[i] as Device).id;", to: "increasing = (list[i - 1] as Device).id <= (list[i] as Device).id;", what: "a fleet of devices already in id order keeps a repeated id twice" },
  { id: "state-ordered-repeat-missed", file: "src/interpreters/local/StateRecords.ts", from: "if (last === undefined || last < id) {", to: "if (last === undefined || last <= id) {", what: "a state line repeating the previous line's device is read as the same device, not reported" },
  { id: "state-set-forgets-ordered-ids", file: "src/interpreters/local/StateRecords.ts", from: "seen = new Set(ids);", to: "seen = new Set();", what: "after the first line out of id order, a repeat of an earlier (in-order) device goes unreported" },
  { id: "clash-same-address", file: "src/diff/Clash.ts", from: "everyAddress(a) || everyAddress(b) || a.hostIp === b.hostIp;", to: "everyAddress(a) || everyAddress(b);", what: "two bindings of one port on one specific address are not seen as a clash" },
  { id: "wave-rest-uncovered", file: "src/diff/Rollout.ts", from: "for (let i = 0; i < n; i++) if (wave[i] === -1) wave[i] = rest;", to: "for (let i = 0; i < n - 1; i++) if (wave[i] === -1) wave[i] = rest;", what: "the last device no wave took is left in no wave (waves do not cover)" },
  { id: "wave-percent-retakes", file: "src/diff/Rollout.ts", from: "if (wave[i] === -1 && (matches === undefined || matches(devices[i] as Device)) && (pct === undefined || ticketOf(i) < cut)) wave[i] = k;", to: "if ((matches === undefined || matches(devices[i] as Device)) && (pct === undefined || ticketOf(i) < cut)) wave[i] = k;", what: "a percentage wave also takes devices an earlier wave took (waves overlap)" },
  { id: "wave-percent-by-position", file: "src/diff/Rollout.ts", from: "(pct === undefined || ticketOf(i) < cut)) wave[i] = k;", to: "(pct === undefined || i < cut * n)) wave[i] = k;", what: "a percentage wave takes the first devices in id order, not those whose ticket falls under it" },
  { id: "wave-pins-ignored", file: "src/diff/Rollout.ts", from: "const pinned = opened[k]?.pinned;", to: "const pinned = opened.length < 0 ? opened[k]?.pinned : undefined;", what: "a count wave is recomputed at every step instead of keeping the devices the ledger pinned" },
  { id: "budget-ignores-failing", file: "src/diff/Rollout.ts", from: "allowance.set(g, Math.max(0, Math.min(maxU - down, s.up - minA)));", to: "allowance.set(g, Math.max(0, Math.min(maxU, s.up - minA)));", what: "the budget forgets the devices already unavailable" },
  { id: "budget-not-spent", file: "src/diff/Rollout.ts", from: "allowance.set(g, left - 1);", to: "allowance.set(g, left);", what: "an update does not spend the budget" },
  { id: "rollback-ignores-budget", file: "src/diff/Rollout.ts", from: "          if (!allowed(m)) continue;\n          actions.push({\n            _tag: \"Update\",", to: "          actions.push({\n            _tag: \"Update\",", what: "a rollback makes every healthy device at the target unavailable at once" },
  { id: "gate-counts-published", file: "src/diff/Rollout.ts", from: "return c.succeeded >= needed(thresholdOf(k), c.online);", to: "return c.updated >= needed(thresholdOf(k), c.online);", what: "a wave passes when its devices are published the target, running it or not" },
  { id: "candidates-beyond-open-waves", file: "src/diff/Rollout.ts", from: "for (let k = 0; k < openWaves; k++) for", to: "for (let k = 0; k <= openWaves; k++) for", what: "devices of the first wave not yet open are updated too" },
  { id: "pause-keeps-publishing", file: "src/diff/Rollout.ts", from: "if (outcome?._tag === \"Failed\") {", to: "if (outcome?._tag === \"Failed\" && outcome.then === \"rollback\") {", what: "a paused rollout keeps updating its open waves" },
  { id: "pause-rolls-back", file: "src/diff/Rollout.ts", from: "if (outcome.then === \"rollback\")\n", to: "if (outcome.then === \"rollback\" || outcome.then === \"pause\")\n", what: "a paused rollout rolls back" },
  { id: "rollback-to-base", file: "src/diff/Rollout.ts", from: "const spec = priors[p.prior];", to: "const spec = priors[base ?? p.prior];", what: "a rollback restores the rollout's base spec, not the spec each device held" },
  { id: "rollout-keys-always", file: "src/diff/Diff.ts", from: "...(staged.progress.length > 0 ? { rollouts: staged.progress } : {}),", to: "rollouts: staged.progress,", what: "an Immediate-only plan carries an (empty) rollouts key" },
  { id: "policy-published", file: "src/diff/Rollout.ts", from: "{ _tag: \"Create\", device: m.device.id, deployment: e.name, spec: deliverable(e.deployment),", to: "{ _tag: \"Create\", device: m.device.id, deployment: e.name, spec: e.deployment,", what: "a staged create publishes the spec with its rollout policy (agents decode only Immediate)" },
  { id: "empty-wave-waits", file: "src/diff/Rollout.ts", from: "next = { ...next, waves: [...next.waves, opening(now, pins[k + 1])] };\n        continue;", to: "next = { ...next, waves: [...next.waves, opening(now, pins[k + 1])] };\n        break;", what: "at most one wave opens per step (a wave with no online device costs a step)" },
  { id: "gate-counts-offline", file: "src/diff/Rollout.ts", from: "return c.succeeded >= needed(thresholdOf(k), c.online);", to: "return c.succeeded >= needed(thresholdOf(k), c.targeted);", what: "a gate waits for offline devices" },
  { id: "offline-not-deferred", file: "src/diff/Rollout.ts", from: "if (m.presence !== \"online\") continue; // deferred until it returns", to: "void 0; // deferred until it returns", what: "offline devices are updated in their absence" },
  { id: "newcomer-next-wave-skipped", file: "src/diff/Rollout.ts", from: "if (k < openWaves || atTarget(m, target)) continue;", to: "if (k <= openWaves || atTarget(m, target)) continue;", what: "a newcomer in the first wave not yet open gets no base spec" },
  { id: "base-not-remembered", file: "src/diff/Rollout.ts", from: "if (holder !== undefined) remember(holder);", to: "void holder;", what: "the base spec is learnt only once some device was updated (newcomers wait; with a budget, everything does)" },
  { id: "failed-devices-skipped", file: "src/diff/Rollout.ts", from: "if (m.presence !== \"online\") continue; // deferred until it returns", to: "if (m.presence !== \"online\" || m.observed?.phase === \"Failed\") continue; // deferred until it returns", what: "a device reported failing is never updated (observed state changes what it receives)" },
  { id: "failing-not-republished", file: "src/diff/Diff.ts", from: "    for (const a of step.actions) actions.push(a);\n    if (rolling.length === 0) continue;", to: "    for (const a of step.actions) if (rolling.length > 0 || reality.observed.get(d.id)?.get(a.deployment)?.phase !== \"Failed\") actions.push(a);\n    if (rolling.length === 0) continue;", what: "an Immediate deployment reported failing is not republished (observed state changes the plan)" },
  { id: "rollout-starts-offline", file: "src/diff/Rollout.ts", from: "if (next === undefined && startable && problems.length === 0) {", to: "if (next === undefined && todo && problems.length === 0) {", what: "a rollout whose devices are all offline starts, passes every wave with no evidence and completes", suite: "test/laws/rollout.test.ts" },
  { id: "enrollment-token-expiry-unchecked", file: "src/trust/EnrollmentToken.ts", from: "if (isExpired(claims, options.now)) return", to: "if (isExpired(claims, new Date(0))) return", what: "an expired enrollment token is accepted", suite: "test/laws/enrollment-token.test.ts" },
  { id: "enrollment-token-audience-unchecked", file: "src/trust/EnrollmentToken.ts", from: "if (claims.audience !== options.audience) return", to: "if (claims.audience === null) return", what: "an enrollment token for another account is accepted", suite: "test/laws/enrollment-token.test.ts" },
  { id: "enrollment-token-reusable", file: "src/interpreters/nats/EnrollmentService.ts", from: "await kv.create(claims.jti,", to: "await kv.put(claims.jti,", what: "an enrollment token can be redeemed again (the record is overwritten, not created once)", suite: "test/nats/enrollment.test.ts" },
  { id: "memory-tamper-unchecked", file: "src/interpreters/memory/index.ts", from: "if (actual !== e.specHash) (marked ??= [])", to: "if (actual === null) (marked ??= [])", what: "the reference interpreter's read trusts a stored spec that does not hash to its hash", suite: "test/laws/memory-conformance.test.ts" },
  { id: "nats-tamper-unchecked", file: "src/interpreters/nats/wire.ts", from: "const tampered = actualSpecHash === specHash ? {} :", to: "const tampered = actualSpecHash !== null ? {} :", what: "the NATS read trusts a stored spec that does not hash to its hash", suite: "test/nats/conformance.test.ts" },
  { id: "planner-relabel-ignored", file: "src/diff/Planner.ts", from: "devices.set(device.device.id, device);\n      return touch(device.device.id);", to: "devices.set(device.device.id, device);\n      return nothing;", what: "the incremental planner does not re-plan a device that registers or is relabelled" },
  { id: "planner-stale-resolution", file: "src/diff/Planner.ts", from: "previous?.device === device && previous.resolution !== undefined", to: "previous !== undefined && previous.resolution !== undefined", what: "the incremental planner keeps a device's resolution after a relabel" },
  { id: "planner-tick-ignored", file: "src/diff/Planner.ts", from: "if (first !== undefined && first.presence !== presenceOf(s.device)) changed.push(s.device);", to: "void first;", what: "the incremental planner does not re-judge presence when time moves on" },
  { id: "ordered-index-no-split", file: "src/diff/OrderedIndex.ts", from: "if (chunk.length > chunkSize) chunks.splice(i + 1, 0, chunk.splice(half));", to: "if (chunk.length > chunkSize) chunks.splice(i, 0, chunk.splice(half));", what: "a full chunk of the ordered index splits with its upper half put before it" },
  { id: "planner-staged-cache-kept", file: "src/diff/Planner.ts", from: "    // A staged rollout reads every member's observed state and presence: any event may change its step.\n    if (staged) cached = undefined;\n", to: "", what: "with a staged rollout the planner keeps its plan across an event that re-plans no device (an agent's report)" },
  { id: "planner-batch-last-only", file: "src/diff/Planner.ts", from: "if (t._tag === \"Device\") touched.add(t.id);", to: "if (t._tag === \"Device\") touched.clear(), touched.add(t.id);", what: "a batch of events re-plans only the last device it touched" },
  { id: "planner-heartbeat-ignored", file: "src/diff/Planner.ts", from: "slot.steps.actions.length === 0 ? nothing : touch(id);", to: "nothing;", what: "the incremental planner records a heartbeat without updating the presence of the device's actions" },
  { id: "ledger-not-kept", file: "src/interpreters/memory/index.ts", from: "const rollouts = applyLedger(state.rollouts, plan.ledger);", to: "const rollouts = applyLedger(state.rollouts, []);", what: "an interpreter drops a plan's rollout ledger records (conformance: ledgers survive apply → read)" },
];

const runLaws = (suite: string): { failed: string[]; passed: boolean } => {
  const r = spawnSync("npx", ["vitest", "run", ...suite.split(" "), "--reporter=json"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
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
    const { failed } = runLaws(m.suite ?? process.env["LAWS"] ?? "test/laws");
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
