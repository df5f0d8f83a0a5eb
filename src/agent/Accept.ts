/**
 * Accepting a desired entry into the agent's view: the one place that decides
 * whether what the driver read may change what the device runs.
 *
 * - an entry older than (or as old as) the one already taken for its key in
 *   this follow is stale (a duplicate or late notification) and ignored;
 * - a key that names no deployment of this device is ignored;
 * - an undecodable value is taken as an `Invalid` slot (reported `Failed`,
 *   never run), or, with a trust store, refused like a forged one;
 * - with a trust store configured, a value must carry a signature that
 *   verifies (src/trust/SignedEntry.ts) for this device, its key's
 *   deployment, its spec's real hash and the current time, and its signed
 *   revision must exceed the highest this device ever accepted for the key
 *   (`accepted`, kept across restarts by the driver): otherwise it is
 *   `Untrusted`, reported `Rejected` with the reason, and never run.
 *   Without a trust store, a value whose spec does not hash to its stated
 *   hash is `Invalid`, as before signatures.
 *
 * Laws (test/laws/agent-model.test.ts, test/laws/signed-agent.test.ts):
 * whatever order and multiplicity notifications arrive in, the view ends as
 * the latest entry of each key; with trust, an untrusted entry never reaches
 * the runtime, and a signed revision is never accepted after a higher one.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Deployment } from "../algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../algebra/Name.ts";
import { formatRejection, verifyEntry, type Rejection as SignatureRejection } from "../trust/SignedEntry.ts";
import type { TrustStore } from "../trust/Keys.ts";
import type { DesiredInput } from "./Event.ts";
import type { Slot } from "./State.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** What a device remembers of the last entry it accepted for a key (with trust). */
export interface AcceptedEntry {
  /** The highest signed revision accepted for the key; never goes down, even when the key is deleted. */
  readonly revision: number;
  /** The spec last accepted, until the key is deleted: what keeps running while newer entries are rejected. */
  readonly spec?: Deployment;
  readonly specHash?: string;
}

export interface AcceptContext {
  readonly device: DeviceId;
  /** Absent: entries are run unsigned, as before signatures. */
  readonly trust?: TrustStore;
  readonly accepted: ReadonlyMap<DeploymentName, AcceptedEntry>;
  readonly now: Date;
}

export type Rejection =
  | { readonly _tag: "Stale"; readonly deployment: DeploymentName; readonly revision: number; readonly known: number }
  | { readonly _tag: "ForeignKey"; readonly key: string; readonly reason: string }
  /** Refused by the trust checks; `specHash` is the hash the entry states (reported with the rejection). */
  | {
      readonly _tag: "Untrusted";
      readonly deployment: DeploymentName;
      readonly revision: number;
      readonly specHash?: string;
      readonly reason: SignatureRejection;
    };

export type Accepted =
  /** `signed`: the signed revision accepted (with trust), to be remembered. */
  | { readonly _tag: "Take"; readonly deployment: DeploymentName; readonly slot: Slot; readonly signed?: number }
  | { readonly _tag: "Remove"; readonly deployment: DeploymentName; readonly revision: number };

// -------------------------------------------------------------------------------------
// accept
// -------------------------------------------------------------------------------------

const untrusted = (deployment: DeploymentName, revision: number, specHash: string | undefined, reason: SignatureRejection): E.Either<Rejection, never> =>
  E.left({ _tag: "Untrusted", deployment, revision, ...(specHash !== undefined ? { specHash } : {}), reason });

export const acceptEntry =
  (revisions: ReadonlyMap<DeploymentName, number>, ctx: AcceptContext) =>
  (input: DesiredInput): E.Either<Rejection, Accepted> => {
    if (input._tag === "ForeignKey") return E.left({ _tag: "ForeignKey", key: input.key, reason: input.reason });
    const known = revisions.get(input.deployment);
    if (known !== undefined && input.revision <= known) return E.left({ _tag: "Stale", deployment: input.deployment, revision: input.revision, known });
    if (input._tag === "Deleted") return E.right({ _tag: "Remove", deployment: input.deployment, revision: input.revision });
    const v = input.value;
    const { deployment, revision } = input;
    if (v._tag === "Undecodable")
      // With trust, an unreadable value is as unproven as a forged one: refused, and what was accepted keeps running.
      return ctx.trust === undefined
        ? E.right({ _tag: "Take", deployment, slot: { _tag: "Invalid", reason: `unreadable desired entry: ${v.reason}`, revision } })
        : untrusted(deployment, revision, undefined, { _tag: "MalformedSignature", reason: `the value is unreadable (${v.reason})` });
    const actual = v.actualSpecHash ?? v.specHash;
    if (ctx.trust === undefined) {
      if (actual !== v.specHash)
        return E.right({
          _tag: "Take",
          deployment,
          slot: { _tag: "Invalid", reason: `unreadable desired entry: specHash ${v.specHash} does not match the spec (${actual})`, revision },
        });
      return E.right({ _tag: "Take", deployment, slot: { _tag: "Valid", spec: v.spec, specHash: v.specHash, revision } });
    }
    const sig = v.signature;
    if (sig === undefined) return untrusted(deployment, revision, v.specHash, { _tag: "Unsigned" });
    if (E.isLeft(sig)) return untrusted(deployment, revision, v.specHash, { _tag: "MalformedSignature", reason: sig.left });
    const verified = verifyEntry(sig.right, { trust: ctx.trust, device: ctx.device, deployment, statedSpecHash: v.specHash, actualSpecHash: actual, now: ctx.now });
    if (E.isLeft(verified)) return untrusted(deployment, revision, v.specHash, verified.left);
    const last = ctx.accepted.get(deployment);
    const signed = verified.right.claims.revision;
    // The entry accepted last, read again (a resync, a restart), is still accepted; anything older is a replay.
    const again = last !== undefined && signed === last.revision && last.specHash === v.specHash;
    if (last !== undefined && signed <= last.revision && !again) return untrusted(deployment, revision, v.specHash, { _tag: "Replayed", revision: signed, highest: last.revision });
    return E.right({ _tag: "Take", deployment, slot: { _tag: "Valid", spec: v.spec, specHash: v.specHash, revision }, signed });
  };

/** One line for the log and the `Rejected` report. */
export const formatUntrusted = (r: SignatureRejection): string => `rejected: ${formatRejection(r)}`;
