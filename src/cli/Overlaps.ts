/**
 * Selector overlaps, for `fleet validate`: pairs of assignments that give a
 * deployment of the same name to at least one declared device. Whether that
 * is fine depends on the pair:
 * - different priorities: an override (the higher one wins), usually intended;
 * - equal priority and equal specs: redundant, harmless;
 * - equal priority and different specs: a conflict (the diff refuses it).
 *
 * Pure; each pair appears once (names in order), with the devices in id
 * order; the list is ordered by deployment, then the pair's names.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import { OrdDeviceById, type Device } from "../algebra/Device.ts";
import { specHash } from "../algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { compile } from "../selectors/Selector.ts";
import type { Assignment } from "../world/Assignment.ts";

export type OverlapKind = "override" | "redundant" | "conflict";

export interface Overlap {
  readonly deployment: DeploymentName;
  readonly kind: OverlapKind;
  /** For an override, `first` is the winner (higher priority). */
  readonly first: { readonly name: string; readonly priority: number };
  readonly second: { readonly name: string; readonly priority: number };
  readonly devices: ReadonlyArray<DeviceId>;
}

/** By deployment, then the two assignments' names. */
export const OrdOverlap: Ord.Ord<Overlap> = concatAll(Ord.getMonoid<Overlap>())([
  Ord.contramap((o: Overlap) => o.deployment)(S.Ord),
  Ord.contramap((o: Overlap) => o.first.name)(S.Ord),
  Ord.contramap((o: Overlap) => o.second.name)(S.Ord),
]);

export const overlaps = (assignments: ReadonlyArray<Assignment>, devices: ReadonlyArray<Device>): ReadonlyArray<Overlap> => {
  const predicates = assignments.map((a) => compile(a.selector));
  const found = new Map<string, { deployment: DeploymentName; a: Assignment; b: Assignment; hashA: string; hashB: string; devices: DeviceId[] }>();
  const seen = new Set<DeviceId>();
  for (const d of [...devices].sort(OrdDeviceById.compare)) {
    if (seen.has(d.id)) continue;
    seen.add(d.id);
    const offers = new Map<DeploymentName, Array<{ a: Assignment; hash: string }>>();
    assignments.forEach((a, i) => {
      if (!(predicates[i] as (d: Device) => boolean)(d)) return;
      for (const dep of a.deployments) {
        const list = offers.get(dep.name) ?? [];
        list.push({ a, hash: specHash(dep) });
        offers.set(dep.name, list);
      }
    });
    for (const [name, list] of offers)
      for (let i = 0; i < list.length; i++)
        for (let j = i + 1; j < list.length; j++) {
          const [x, y] = [list[i], list[j]] as [{ a: Assignment; hash: string }, { a: Assignment; hash: string }];
          // Winner first for overrides; otherwise by name, so the pair has one key.
          const [p, q] = x.a.priority !== y.a.priority ? (x.a.priority > y.a.priority ? [x, y] : [y, x]) : S.Ord.compare(x.a.name, y.a.name) <= 0 ? [x, y] : [y, x];
          const key = `${name}\u0000${p.a.id}\u0000${q.a.id}`;
          const f = found.get(key);
          if (f === undefined) found.set(key, { deployment: name, a: p.a, b: q.a, hashA: p.hash, hashB: q.hash, devices: [d.id] });
          else f.devices.push(d.id);
        }
  }
  return [...found.values()]
    .map(
      (f): Overlap => ({
        deployment: f.deployment,
        kind: f.a.priority !== f.b.priority ? "override" : f.hashA === f.hashB ? "redundant" : "conflict",
        first: { name: f.a.name, priority: f.a.priority },
        second: { name: f.b.name, priority: f.b.priority },
        devices: f.devices,
      }),
    )
    .sort(OrdOverlap.compare);
};
