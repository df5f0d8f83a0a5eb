/**
 * An independent, naive statement of what a World gives each device, written
 * without the diff's resolver or caches, for soundness and completeness laws.
 */
import * as O from "fp-ts/lib/Option.js";
import type { Device } from "../../src/algebra/Device.ts";
import { specHash } from "../../src/algebra/Deployment.ts";
import type { World } from "../../src/world/World.ts";
import type { Reality } from "../../src/diff/Reality.ts";
import { matches } from "../../src/selectors/Selector.ts";

/** name -> the set of spec hashes offered at the top priority for that name. */
export const offered = (world: World, d: Device): Map<string, Set<string>> => {
  const best = new Map<string, { priority: number; hashes: Set<string> }>();
  for (const a of world.assignments) {
    if (!matches(a.selector)(d)) continue;
    for (const dep of a.deployments) {
      const cur = best.get(dep.name);
      if (cur === undefined || a.priority > cur.priority) best.set(dep.name, { priority: a.priority, hashes: new Set([specHash(dep)]) });
      else if (a.priority === cur.priority) cur.hashes.add(specHash(dep));
    }
  }
  return new Map([...best].map(([k, v]) => [k, v.hashes]));
};

/** The devices the World is about, and the ids the diff must leave alone. */
export const fleetAndFrozen = (world: World, reality: Reality): { devices: Device[]; frozen: Set<string> } => {
  const frozen = new Set<string>(reality.damaged.keys());
  if (O.isNone(world.fleet)) return { devices: [...reality.devices.values()].map((r) => r.device), frozen };
  const byId = new Map<string, Device[]>();
  for (const d of world.fleet.value) byId.set(d.id, [...(byId.get(d.id) ?? []), d]);
  for (const [id, ds] of byId) if (ds.length > 1) frozen.add(id);
  return { devices: [...byId.values()].map((ds) => ds[0] as Device), frozen };
};

/** Desired entries as sorted `device.deployment=hash` strings (fingerprints ignored). */
export const desiredView = (r: Reality): string[] => {
  const out: string[] = [];
  for (const [id, m] of r.desired) for (const [name, e] of m) out.push(`${id}.${name}=${e.specHash}`);
  return out.sort();
};
