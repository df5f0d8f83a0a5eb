/**
 * Accepting a desired entry into the agent's view: the one place that decides
 * whether what the driver read may change what the device runs.
 *
 * Today: an entry older than (or as old as) the one already taken for its key
 * in this follow is stale (a duplicate or late notification) and rejected; a
 * key that names no deployment of this device is rejected; an undecodable
 * value is taken as an `Invalid` slot (reported `Failed`, never run).
 * Verification of signed entries slots in here as one more rejection.
 *
 * Law (test/laws/agent-model.test.ts): whatever order and multiplicity
 * notifications arrive in, the view ends as the latest entry of each key.
 */
import * as E from "fp-ts/lib/Either.js";
import type { DeploymentName } from "../algebra/Name.ts";
import type { DesiredInput } from "./Event.ts";
import type { Slot } from "./State.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Rejection =
  | { readonly _tag: "Stale"; readonly deployment: DeploymentName; readonly revision: number; readonly known: number }
  | { readonly _tag: "ForeignKey"; readonly key: string; readonly reason: string };

export type Accepted =
  | { readonly _tag: "Take"; readonly deployment: DeploymentName; readonly slot: Slot }
  | { readonly _tag: "Remove"; readonly deployment: DeploymentName; readonly revision: number };

// -------------------------------------------------------------------------------------
// accept
// -------------------------------------------------------------------------------------

export const acceptEntry =
  (revisions: ReadonlyMap<DeploymentName, number>) =>
  (input: DesiredInput): E.Either<Rejection, Accepted> => {
    if (input._tag === "ForeignKey") return E.left({ _tag: "ForeignKey", key: input.key, reason: input.reason });
    const known = revisions.get(input.deployment);
    if (known !== undefined && input.revision <= known) return E.left({ _tag: "Stale", deployment: input.deployment, revision: input.revision, known });
    if (input._tag === "Deleted") return E.right({ _tag: "Remove", deployment: input.deployment, revision: input.revision });
    const v = input.value;
    return E.right({
      _tag: "Take",
      deployment: input.deployment,
      slot:
        v._tag === "Decoded"
          ? { _tag: "Valid", spec: v.spec, specHash: v.specHash, revision: input.revision }
          : { _tag: "Invalid", reason: `unreadable desired entry: ${v.reason}`, revision: input.revision },
    });
  };
