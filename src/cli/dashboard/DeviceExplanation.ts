/**
 * The dashboard's device drill-down: `fleet explain` as data. Each assignment
 * with its selector's clause-by-clause verdict on the device, the desired
 * deployments that result, conflicts, shadowed assignments, and desired vs
 * published vs observed per deployment.
 *
 * An adapter over the pure pieces `fleet explain` uses (`resolver`, `explain`,
 * `presence`), kept in one module so it can be re-pointed at a shared
 * explanation function once one exists below the CLI.
 *
 * The device the selectors see is the one the diff sees: the declaration
 * when the World declares a fleet, else the registered device.
 */
import * as E from "fp-ts/lib/Either.js";
import * as N from "fp-ts/lib/number.js";
import * as O from "fp-ts/lib/Option.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { shortHash } from "../../algebra/Deployment.ts";
import type { Device } from "../../algebra/Device.ts";
import { declarationsOf } from "../../world/World.ts";
import { OrdDeploymentName, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import { presence, resolver } from "../../diff/Diff.ts";
import { explain, type Explanation } from "../../selectors/Explain.ts";
import type { Assignment } from "../../world/Assignment.ts";
import type { Observation } from "./Snapshot.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface AssignmentVerdict {
  readonly name: string;
  readonly priority: number;
  readonly verdict: boolean;
  /** The selector's explanation tree on this device. */
  readonly explanation: Explanation;
  readonly gives: ReadonlyArray<{ readonly deployment: string; readonly shadowedBy?: string }>;
}

export interface DeploymentComparison {
  readonly deployment: string;
  readonly desired?: string;
  readonly published?: string;
  readonly observed?: string;
  readonly phase?: string;
  readonly error?: string;
  readonly at?: string;
  /** What apply would do about it, or why it differs; empty when all agree. */
  readonly note: string;
}

export interface DeviceExplanationView {
  readonly id: string;
  readonly device: { readonly labels: Readonly<Record<string, string>>; readonly arch: string; readonly agentVersion?: string };
  readonly declared: "yes" | "no" | "no-fleet";
  readonly registered: boolean;
  readonly presence: string;
  readonly lastHeartbeat?: string;
  readonly unreadable?: string;
  readonly assignments: ReadonlyArray<AssignmentVerdict>;
  readonly desired: ReadonlyArray<{ readonly deployment: string; readonly specHash: string; readonly assignment: string }>;
  readonly conflicts: ReadonlyArray<string>;
  readonly shadowed: ReadonlyArray<string>;
  readonly comparison: ReadonlyArray<DeploymentComparison>;
}

export interface UnknownDevice {
  readonly _tag: "UnknownDevice";
  readonly message: string;
}

/** Highest priority first, then by name, then by id: the order `fleet explain` lists them in. */
export const OrdAssignmentForExplain: Ord.Ord<Assignment> = Ord.getMonoid<Assignment>().concat(
  Ord.reverse(Ord.contramap((a: Assignment) => a.priority)(N.Ord)),
  Ord.getMonoid<Assignment>().concat(Ord.contramap((a: Assignment) => a.name)(S.Ord), Ord.contramap((a: Assignment) => a.id)(S.Ord)),
);

// -------------------------------------------------------------------------------------
// explanation
// -------------------------------------------------------------------------------------

export const explainDevice = (o: Observation, id: DeviceId): E.Either<UnknownDevice, DeviceExplanationView> => {
  const w = o.world;
  const declarations = declarationsOf(id)(w);
  const registered = o.reality.devices.get(id);
  const inFleet = O.isNone(w.fleet) ? registered !== undefined : declarations.length > 0;
  const seen: Device | undefined = O.isSome(w.fleet) ? (declarations[0] ?? registered?.device) : registered?.device;
  if (seen === undefined) return E.left({ _tag: "UnknownDevice", message: `device ${id} is neither declared by the World nor registered with the backend` });

  const res = resolver(w)(seen);
  const shadowedBy = new Map(res.shadowed.map((s) => [`${s.assignment}\u0000${s.deployment}`, s.by]));
  const assignments = [...w.assignments].sort(OrdAssignmentForExplain.compare).map((a): AssignmentVerdict => {
    const e = explain(a.selector, seen);
    return {
      name: a.name,
      priority: a.priority,
      verdict: e.verdict,
      explanation: e,
      gives: a.deployments.map((d) => {
        const by = e.verdict ? shadowedBy.get(`${a.name}\u0000${d.name}`) : undefined;
        return by === undefined ? { deployment: d.name } : { deployment: d.name, shadowedBy: by };
      }),
    };
  });

  const published = o.reality.desired.get(id);
  const observed = o.reality.observed.get(id);
  const names = new Set<DeploymentName>([...(inFleet ? res.entries.map((e) => e.name) : []), ...(published?.keys() ?? []), ...(observed?.keys() ?? [])]);
  const comparison = [...names].sort(OrdDeploymentName.compare).map((n): DeploymentComparison => {
    const want = inFleet ? res.byName.get(n) : undefined;
    const pub = published?.get(n);
    const obs = observed?.get(n);
    const note =
      want === undefined && pub !== undefined
        ? "published but not desired: apply deletes it"
        : want !== undefined && pub === undefined
          ? "not published yet: apply creates it"
          : want !== undefined && pub !== undefined && pub.specHash !== want.specHash
            ? "published spec is outdated: apply updates it"
            : want !== undefined && obs?.specHash !== undefined && obs.specHash !== want.specHash
              ? "the device runs an older spec"
              : "";
    return {
      deployment: n,
      ...(want !== undefined ? { desired: shortHash(want.specHash) } : {}),
      ...(pub !== undefined ? { published: shortHash(pub.specHash) } : {}),
      ...(obs?.specHash !== undefined ? { observed: shortHash(obs.specHash) } : {}),
      ...(obs !== undefined ? { phase: obs.phase, at: obs.at.toISOString() } : {}),
      ...(obs?.error !== undefined ? { error: obs.error } : {}),
      note,
    };
  });

  const hb = registered?.lastHeartbeat;
  const damage = o.reality.damaged.get(id);
  return E.right({
    id,
    device: { labels: seen.labels, arch: seen.arch, ...(seen.agentVersion !== undefined ? { agentVersion: seen.agentVersion } : {}) },
    declared: O.isNone(w.fleet) ? "no-fleet" : declarations.length > 0 ? "yes" : "no",
    registered: registered !== undefined,
    presence: presence(o.reality, id, o.now.getTime(), o.offlineAfterMs),
    ...(hb !== undefined ? { lastHeartbeat: hb.toISOString() } : {}),
    ...(damage !== undefined ? { unreadable: damage } : {}),
    assignments,
    desired: inFleet ? res.entries.map((e) => ({ deployment: e.name, specHash: shortHash(e.specHash), assignment: e.by.assignment })) : [],
    conflicts: res.conflicts.map((c) => `${c.deployment}: different specs at priority ${c.priority} from ${c.candidates.map((x) => x.assignment).join(", ")}`),
    shadowed: res.shadowed.map((s) => `${s.assignment} (priority ${s.priority}) gives ${s.deployment}; ${s.by} wins with a higher priority`),
    comparison,
  });
};
