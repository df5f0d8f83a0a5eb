/**
 * The dashboard's device drill-down: `fleet explain` as JSON. A view over the
 * pure explanation in `diff/DeviceExplanation.ts` (the one `fleet explain`
 * prints), so the page and the command never disagree about a device: each
 * assignment with its selector's clause-by-clause verdict on the device, the
 * desired deployments that result, conflicts, shadowed assignments, and
 * desired vs published vs observed per deployment with what apply would do.
 */
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { shortHash } from "../../algebra/Deployment.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import { explainDevice as explainPure, type DeviceExplanation, type Fate, type UnknownDevice as Unknown } from "../../diff/DeviceExplanation.ts";
import type { Explanation } from "../../selectors/Explain.ts";
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

// -------------------------------------------------------------------------------------
// explanation
// -------------------------------------------------------------------------------------

/** What apply does about one name, or why the device differs from the World; empty when all agree. */
const noteOf = (fate: Fate, observedDiffers: boolean): string => {
  switch (fate._tag) {
    case "Act":
      return fate.action._tag === "Create"
        ? "not published yet: apply creates it"
        : fate.action._tag === "Update"
          ? fate.action.repair !== undefined
            ? `tampered (${fate.action.repair}): apply republishes it`
            : "published spec is outdated: apply updates it"
          : "published but not desired: apply deletes it";
    case "LeftAlone":
      return `left alone: ${fate.why}`;
    case "InConflict":
      return "in conflict: apply leaves the published entry as it is";
    case "AsDesired":
      return observedDiffers ? "the device runs an older spec" : "";
  }
};

export const explainDevice = (o: Observation, id: DeviceId): E.Either<UnknownDevice, DeviceExplanationView> =>
  E.map((x: DeviceExplanation): DeviceExplanationView => {
    const seen = x.seen;
    const hb = x.registered?.lastHeartbeat;
    return {
      id,
      device: { labels: seen.labels, arch: seen.arch, ...(seen.agentVersion !== undefined ? { agentVersion: seen.agentVersion } : {}) },
      declared: O.isNone(x.declarations) ? "no-fleet" : x.declarations.value.length > 0 ? "yes" : "no",
      registered: x.registered !== undefined,
      presence: x.presence,
      ...(hb !== undefined ? { lastHeartbeat: hb.toISOString() } : {}),
      ...(x.unreadable !== undefined ? { unreadable: x.unreadable } : {}),
      assignments: x.assignments.map((a) => ({
        name: a.assignment.name,
        priority: a.assignment.priority,
        verdict: a.explanation.verdict,
        explanation: a.explanation,
        gives: a.gives,
      })),
      desired: x.resolution.entries.map((e) => ({ deployment: e.name, specHash: shortHash(e.specHash), assignment: e.by.assignment })),
      conflicts: x.resolution.conflicts.map((c) => `${c.deployment}: different specs at priority ${c.priority} from ${c.candidates.map((y) => y.assignment).join(", ")}`),
      shadowed: x.resolution.shadowed.map((s) => `${s.assignment} (priority ${s.priority}) gives ${s.deployment}; ${s.by} wins with a higher priority`),
      comparison: x.names.map((n): DeploymentComparison => {
        const want = n.desired;
        const pub = n.published;
        const obs = n.observed;
        return {
          deployment: n.deployment,
          ...(want !== undefined ? { desired: shortHash(want.specHash) } : {}),
          ...(pub !== undefined ? { published: shortHash(pub.specHash) } : {}),
          ...(obs?.specHash !== undefined ? { observed: shortHash(obs.specHash) } : {}),
          ...(obs !== undefined ? { phase: obs.phase, at: obs.at.toISOString() } : {}),
          ...(obs?.error !== undefined ? { error: obs.error } : {}),
          note: noteOf(n.fate, want !== undefined && obs?.specHash !== undefined && obs.specHash !== want.specHash),
        };
      }),
    };
  })(
    E.mapLeft(
      (u: Unknown): UnknownDevice => ({
        _tag: "UnknownDevice",
        message: `device ${u.device} is neither declared by the World nor registered with the backend`,
      }),
    )(explainPure(o.world, o.reality, id, { now: o.now, offlineAfterMs: o.offlineAfterMs })),
  );
