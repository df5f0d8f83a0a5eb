/**
 * An independent, naive statement of what a World gives each device and of
 * the plan that follows, written without the diff's Targets, resolver, caches
 * or Clash module: the fast diff must equal it (test/laws/model.test.ts), and
 * the soundness and completeness laws judge against it.
 */
import * as O from "fp-ts/lib/Option.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import type { Device } from "../../src/algebra/Device.ts";
import { specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { declarations, type World } from "../../src/world/World.ts";
import type { Assignment } from "../../src/world/Assignment.ts";
import type { DesiredEntry, Reality } from "../../src/diff/Reality.ts";
import type { Action, Presence, Summary } from "../../src/diff/Plan.ts";
import { matches } from "../../src/selectors/Selector.ts";
import { printSelector } from "../../src/selectors/Print.ts";

interface Offer {
  readonly priority: number;
  /** hash -> the first assignment (in the World's order) offering that spec at `priority`, and the spec. */
  readonly specs: Map<string, { readonly by: Assignment; readonly spec: Deployment }>;
  /** Every assignment at `priority` offering the name, with its hash (candidates of a conflict). */
  readonly offers: Array<{ readonly assignment: string; readonly specHash: string }>;
}

const offersFor = (world: World, d: Device): Map<string, Offer> => {
  const best = new Map<string, Offer>();
  for (const a of world.assignments) {
    if (!matches(a.selector)(d)) continue;
    for (const dep of a.deployments) {
      const h = specHash(dep);
      const cur = best.get(dep.name);
      if (cur === undefined || a.priority > cur.priority)
        best.set(dep.name, { priority: a.priority, specs: new Map([[h, { by: a, spec: dep }]]), offers: [{ assignment: a.name, specHash: h }] });
      else if (a.priority === cur.priority) {
        if (!cur.specs.has(h)) cur.specs.set(h, { by: a, spec: dep });
        cur.offers.push({ assignment: a.name, specHash: h });
      }
    }
  }
  return best;
};

/** name -> the set of spec hashes offered at the top priority for that name. */
export const offered = (world: World, d: Device): Map<string, Set<string>> =>
  new Map([...offersFor(world, d)].map(([k, v]) => [k, new Set(v.specs.keys())]));

/** Host-port and mount clashes among specs, as `tcp/8080` and `web/main/data` keys. */
export const naiveClashes = (specs: ReadonlyArray<Deployment>): string[] => {
  const bindings: Array<{ key: string; ip: string | undefined }> = [];
  const out = new Set<string>();
  for (const dep of specs)
    for (const s of dep.score.services) {
      for (const p of s.ports) bindings.push({ key: `${p.protocol}/${p.host ?? p.container}`, ip: p.hostIp });
      for (const v of s.volumes) if (s.volumes.filter((w) => w.target === v.target).length > 1) out.add(`${dep.name}/${s.name}/${v.target}`);
    }
  const wild = (ip: string | undefined): boolean => ip === undefined || ip === "" || ip === "0.0.0.0" || ip === "::";
  bindings.forEach((b, i) =>
    bindings.forEach((c, j) => {
      if (i < j && b.key === c.key && (wild(b.ip) || wild(c.ip) || b.ip === c.ip)) out.add(b.key);
    }),
  );
  return [...out].sort(S.Ord.compare);
};

interface Evaluated {
  readonly device: Device;
  /** Names with one spec at the top priority. */
  readonly desired: Map<string, { readonly by: Assignment; readonly spec: Deployment; readonly hash: string }>;
  /** Names with several. */
  readonly conflicted: Map<string, Offer>;
  readonly clashes: string[];
}

const evaluate = (world: World, reality: Reality, d: Device): Evaluated => {
  const desired = new Map<string, { by: Assignment; spec: Deployment; hash: string }>();
  const conflicted = new Map<string, Offer>();
  for (const [name, o] of offersFor(world, d)) {
    if (o.specs.size > 1) conflicted.set(name, o);
    else for (const [hash, v] of o.specs) desired.set(name, { ...v, hash });
  }
  const published = reality.desired.get(d.id);
  const kept = [...conflicted.keys()].flatMap((n) => published?.get(n as DeploymentName)?.spec ?? []);
  return { device: d, desired, conflicted, clashes: naiveClashes([...[...desired.values()].map((v) => v.spec), ...kept]) };
};

/** The devices the World is about, and the ids the diff must leave alone. */
export const fleetAndFrozen = (world: World, reality: Reality): { devices: Device[]; frozen: Set<string> } => {
  const frozen = new Set<string>(reality.damaged.keys());
  const declared = declarations(world);
  let devices: Device[];
  if (O.isNone(declared)) devices = [...reality.devices.values()].map((r) => r.device);
  else {
    const byId = new Map<string, Device[]>();
    for (const d of declared.value) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    for (const [id, ds] of byId) if (ds.length > 1) frozen.add(id);
    devices = [...byId.values()].map((ds) => ds[0] as Device);
  }
  for (const d of devices) if (!frozen.has(d.id) && evaluate(world, reality, d).clashes.length > 0) frozen.add(d.id);
  return { devices, frozen };
};

/** Desired entries as sorted `device.deployment=hash` strings (fingerprints ignored). */
export const desiredView = (r: Reality): string[] => {
  const out: string[] = [];
  for (const [id, m] of r.desired) for (const [name, e] of m) out.push(`${id}.${name}=${e.specHash}`);
  return out.sort(S.Ord.compare);
};

const OrdKey: Ord.Ord<Action> = Ord.contramap((a: Action) => [a.device, a.deployment] as const)(Ord.tuple(S.Ord, S.Ord));

export interface NaivePlan {
  readonly actions: ReadonlyArray<Action>;
  /** `device kind detail` strings, sorted. */
  readonly conflicts: ReadonlyArray<string>;
  /** Device ids, sorted. */
  readonly skipped: ReadonlyArray<string>;
  readonly summary: Summary;
}

/** The whole plan, device by device, with nothing cached or shared. */
export const naiveDiff = (world: World, reality: Reality, now: Date, offlineAfterMs = 90_000): NaivePlan => {
  const presence = (id: string): Presence => {
    const r = reality.devices.get(id as DeviceId);
    if (r === undefined) return "unregistered";
    return r.lastHeartbeat !== undefined && now.getTime() - r.lastHeartbeat.getTime() <= offlineAfterMs ? "online" : "offline";
  };
  const skipped = new Set<string>(reality.damaged.keys());
  const conflicts: string[] = [];
  const declared = declarations(world);
  let fleet: Device[];
  if (O.isNone(declared)) fleet = [...reality.devices.values()].map((r) => r.device);
  else {
    const byId = new Map<string, Device[]>();
    for (const d of declared.value) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
    for (const [id, ds] of byId)
      if (ds.length > 1) {
        conflicts.push(`${id} DeviceConflict`);
        skipped.add(id);
      }
    fleet = [...byId.values()].map((ds) => ds[0] as Device);
  }
  const actions: Action[] = [];
  let unchanged = 0;
  let devices = 0;
  for (const d of fleet) {
    if (skipped.has(d.id)) continue;
    devices++;
    const e = evaluate(world, reality, d);
    for (const name of e.conflicted.keys()) conflicts.push(`${d.id} DeploymentConflict ${name}`);
    if (e.clashes.length > 0) {
      for (const c of e.clashes) conflicts.push(`${d.id} ${/^(tcp|udp)\/\d+$/.test(c) ? "HostPortConflict" : "MountConflict"} ${c}`);
      skipped.add(d.id);
      continue;
    }
    const published: ReadonlyMap<string, DesiredEntry> = reality.desired.get(d.id) ?? new Map();
    for (const [name, p] of published) {
      const want = e.desired.get(name);
      const previous = { specHash: p.specHash, fingerprint: p.fingerprint };
      const by = (a: Assignment) => ({ assignment: a.name, selector: printSelector(a.selector), priority: a.priority });
      if (want === undefined) {
        if (!e.conflicted.has(name))
          actions.push({ _tag: "Delete", device: d.id, deployment: p.deployment, previous, reason: { _tag: "Unassigned" }, presence: presence(d.id) });
      } else if (want.hash === p.specHash && p.tampered === undefined) unchanged++;
      else
        actions.push({
          _tag: "Update",
          device: d.id,
          deployment: p.deployment,
          spec: want.spec,
          specHash: want.hash,
          previous,
          reason: by(want.by),
          presence: presence(d.id),
          ...(p.tampered !== undefined ? { repair: p.tampered } : {}),
        });
    }
    for (const [name, want] of e.desired)
      if (!published.has(name))
        actions.push({
          _tag: "Create",
          device: d.id,
          deployment: want.spec.name,
          spec: want.spec,
          specHash: want.hash,
          reason: { assignment: want.by.name, selector: printSelector(want.by.selector), priority: want.by.priority },
          presence: presence(d.id),
        });
  }
  const inFleet = new Set(fleet.map((d) => d.id as string));
  for (const [id, entries] of reality.desired) {
    if (inFleet.has(id) || reality.damaged.has(id)) continue;
    for (const p of entries.values())
      actions.push({ _tag: "Delete", device: id, deployment: p.deployment, previous: { specHash: p.specHash, fingerprint: p.fingerprint }, reason: { _tag: "DeviceRemoved" }, presence: presence(id) });
  }
  actions.sort(OrdKey.compare);
  const count = (tag: Action["_tag"]): number => actions.filter((a) => a._tag === tag).length;
  return {
    actions,
    conflicts: conflicts.sort(S.Ord.compare),
    skipped: [...skipped].sort(S.Ord.compare),
    summary: {
      create: count("Create"),
      update: count("Update"),
      delete: count("Delete"),
      unchanged,
      devices,
      notOnline: actions.filter((a) => a.presence !== "online").length,
      conflicts: conflicts.length,
      skipped: skipped.size,
    },
  };
};
