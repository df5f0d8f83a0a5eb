/**
 * Clashes: host resources that the deployments one device is given claim
 * twice, so that the device could not start them all. They depend on the
 * device's deployments alone, and the diff sees them before anything is
 * published.
 *
 * - Host ports: two port mappings (of one service or of two, in one
 *   deployment or two) bind one host port with one protocol, where one binds
 *   every address (no `hostIp`, `0.0.0.0` or `::`) or both bind the same one.
 * - Mounts: one service mounts two volumes at one container path.
 *
 * Law (test/laws/clash.test.ts): `clashes(ds)` is empty exactly when no two
 * bindings in `ds` share a host port and address, and no service mounts two
 * volumes at one path; the result does not depend on the order of `ds`.
 */
import * as N from "fp-ts/lib/number.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import type { Deployment, PortMapping, VolumeMount } from "../algebra/Deployment.ts";
import { OrdDeploymentName, type DeploymentName } from "../algebra/Name.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface PortBinding {
  readonly deployment: DeploymentName;
  readonly service: string;
  /** Absent: every address. */
  readonly hostIp?: string;
}

export interface HostPortClash {
  readonly protocol: PortMapping["protocol"];
  readonly hostPort: number;
  /** Every binding of that port and protocol on the device, in `OrdPortBinding` order. */
  readonly bindings: ReadonlyArray<PortBinding>;
}

export interface MountClash {
  readonly deployment: DeploymentName;
  readonly service: string;
  readonly target: string;
  /** The volumes mounted there, in order. */
  readonly sources: ReadonlyArray<string>;
}

export type Clash = ({ readonly _tag: "HostPort" } & HostPortClash) | ({ readonly _tag: "Mount" } & MountClash);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

export const OrdPortBinding: Ord.Ord<PortBinding> = concatAll(Ord.getMonoid<PortBinding>())([
  Ord.contramap((b: PortBinding) => b.deployment)(OrdDeploymentName),
  Ord.contramap((b: PortBinding) => b.service)(S.Ord),
  Ord.contramap((b: PortBinding) => b.hostIp ?? "")(S.Ord),
]);

export const OrdClash: Ord.Ord<Clash> = concatAll(Ord.getMonoid<Clash>())([
  Ord.contramap((c: Clash) => c._tag)(S.Ord),
  Ord.contramap((c: Clash) => (c._tag === "HostPort" ? c.protocol : c.deployment))(S.Ord),
  Ord.contramap((c: Clash) => (c._tag === "HostPort" ? c.hostPort : 0))(N.Ord),
  Ord.contramap((c: Clash) => (c._tag === "HostPort" ? "" : `${c.service}/${c.target}`))(S.Ord),
]);

// -------------------------------------------------------------------------------------
// queries
// -------------------------------------------------------------------------------------

const WILDCARDS: ReadonlySet<string> = new Set(["", "0.0.0.0", "::"]);
const everyAddress = (b: PortBinding): boolean => b.hostIp === undefined || WILDCARDS.has(b.hostIp);
const overlap = (a: PortBinding, b: PortBinding): boolean => everyAddress(a) || everyAddress(b) || a.hostIp === b.hostIp;

/** The clashes among the deployments one device would run, in `OrdClash` order. */
export const clashes = (deployments: Iterable<Deployment>): ReadonlyArray<Clash> => {
  const ports = new Map<string, { protocol: PortMapping["protocol"]; hostPort: number; bindings: PortBinding[] }>();
  const out: Clash[] = [];
  for (const d of deployments)
    for (const s of d.score.services) {
      for (const p of s.ports) {
        const hostPort = p.host ?? p.container;
        const key = `${p.protocol}/${hostPort}`;
        const binding: PortBinding = { deployment: d.name, service: s.name, ...(p.hostIp !== undefined ? { hostIp: p.hostIp } : {}) };
        const group = ports.get(key);
        if (group === undefined) ports.set(key, { protocol: p.protocol, hostPort, bindings: [binding] });
        else group.bindings.push(binding);
      }
      // Volumes are kept in target order (Deployment normalises them): a clash is a run of one target.
      for (let i = 0; i < s.volumes.length; ) {
        const target = (s.volumes[i] as VolumeMount).target;
        let j = i + 1;
        while (j < s.volumes.length && s.volumes[j]?.target === target) j++;
        if (j - i > 1) out.push({ _tag: "Mount", deployment: d.name, service: s.name, target, sources: s.volumes.slice(i, j).map((v) => v.source) });
        i = j;
      }
    }
  for (const { protocol, hostPort, bindings } of ports.values())
    if (bindings.some((b, i) => bindings.some((c, j) => j > i && overlap(b, c))))
      out.push({ _tag: "HostPort", protocol, hostPort, bindings: [...bindings].sort(OrdPortBinding.compare) });
  return out.sort(OrdClash.compare);
};
