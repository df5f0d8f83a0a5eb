/**
 * The `Device` custom resource, and how it maps to and from Reality.
 *
 * One object per device, named by the device id, in the interpreter's
 * namespace. Three writers, each owning its own fields under server-side
 * apply:
 * - the agent (field manager `fleet-agent`): `spec.labels` (the labels it
 *   reports), `spec.arch`, `spec.agentVersion`, `spec.inventory`, and the
 *   status (`lastHeartbeat`, observed `deployments`);
 * - the control plane (`fleet-algebra`): `spec.deployments`, the desired
 *   entries, a list keyed by deployment name;
 * - the control plane's label writer (`fleet-algebra-labels`, DeviceLabels.ts):
 *   `metadata.labels`, the labels the selectors see (the World's declaration
 *   when it declares the device, else what the agent reports), and
 *   `spec.declaredLabels` when declared, so `kubectl get devices -l …` selects
 *   exactly what the fleet matched;
 * - operators, who may own entries too (their conflicts are reported).
 *
 * A device is registered iff `spec.arch` is set. Each desired entry carries
 * `revision`, the object's resourceVersion the write was made against; its
 * fingerprint is `revision/short-hash`. Every write of an entry is made
 * against a newer resourceVersion, so the fingerprint changes on every write,
 * per entry: a heartbeat or an edit of another entry of the same device does
 * not make a saved plan stale.
 *
 * Decoding is two-step: a permissive envelope (name, resourceVersion), then
 * exact codecs for each part. An object whose name is no device id is
 * skipped; one whose parts do not decode is reported with its name and its
 * device marked damaged.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { DeploymentCodec, shortHash, specHash as specHashOf, specMismatch, type Deployment } from "../../algebra/Deployment.ts";
import { DeviceCodec, type Device } from "../../algebra/Device.ts";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { DeploymentName, DeviceId } from "../../algebra/Name.ts";
import { ObservedStateCodec, type ObservedState } from "../../diff/Reality.ts";
import { API_VERSION, DEPLOYMENTS_ANNOTATION, DEVICE } from "./Crds.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface PublishedEntry {
  readonly name: DeploymentName;
  readonly specHash: string;
  readonly revision?: string;
  readonly spec?: Deployment;
  /** Set when `spec` does not hash to `specHash` (another field manager edited it): the plan republishes the entry. */
  readonly tampered?: string;
  readonly fingerprint: string;
  /** The entry's known fields exactly as stored, to re-apply an entry unchanged. */
  readonly wire: Readonly<Record<string, unknown>>;
}

export interface DeviceObject {
  readonly id: DeviceId;
  readonly resourceVersion: string;
  /** Present iff the device registered (`spec.arch` set). */
  readonly registration?: Device;
  readonly lastHeartbeat?: Date;
  /** By deployment name. */
  readonly entries: ReadonlyArray<PublishedEntry>;
  /** By deployment name. */
  readonly observed: ReadonlyArray<ObservedState>;
  readonly managedFields: ReadonlyArray<unknown>;
  /** `metadata.labels` as stored (whoever wrote them). */
  readonly metadataLabels: Readonly<Record<string, string>>;
  /** `spec.declaredLabels`, when the control plane wrote the World's declaration. */
  readonly declaredLabels?: Readonly<Record<string, string>>;
}

export type DeviceObjectProblem =
  /** The object cannot be a device at all (its name is no device id). */
  | { readonly _tag: "NotADevice"; readonly name: string; readonly message: string }
  /** The object is a device whose records cannot be read: the device is damaged. */
  | { readonly _tag: "Unreadable"; readonly id: DeviceId; readonly message: string };

// -------------------------------------------------------------------------------------
// fingerprints
// -------------------------------------------------------------------------------------

export const entryFingerprint = (revision: string | undefined, specHash: string): string => `${revision ?? "-"}/${shortHash(specHash)}`;

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

const Envelope = t.type({
  apiVersion: t.string,
  kind: t.string,
  metadata: t.intersection([
    t.type({ name: t.string, resourceVersion: t.string }),
    t.partial({ managedFields: t.array(t.unknown), labels: t.record(t.string, t.string) }),
  ]),
});

const Parts = t.partial({
  spec: t.partial({
    labels: t.unknown,
    arch: t.unknown,
    agentVersion: t.unknown,
    inventory: t.unknown,
    deployments: t.union([t.array(t.unknown), t.null]),
    // null: the label writer let go of it (the device is no longer declared), as Kubernetes 1.20 leaves it.
    declaredLabels: t.union([t.record(t.string, t.string), t.null]),
  }),
  status: t.partial({ lastHeartbeat: t.unknown, deployments: t.union([t.array(t.unknown), t.null]) }),
});

const EntryWire = t.intersection([t.type({ name: DeploymentName, specHash: t.string }), t.partial({ revision: t.string, spec: t.unknown })]);
const ObservedWire = t.intersection([t.type({ name: t.unknown, phase: t.unknown, at: t.unknown }), t.partial({ specHash: t.unknown, error: t.unknown, health: t.unknown })]);
const SPEC_HASH = /^sha256:[0-9a-f]{64}$/;

const byName = Ord.contramap((x: { readonly name: string }) => x.name)(S.Ord).compare;

const decodeEntry = (u: unknown, index: number): E.Either<string, PublishedEntry> => {
  const w = EntryWire.decode(u);
  if (E.isLeft(w)) return E.left(`spec.deployments[${index}]: ${formatValidationErrors(w.left)}`);
  const { name, specHash, revision } = w.right;
  const where = `spec.deployments[name=${JSON.stringify(name)}]`;
  if (!SPEC_HASH.test(specHash)) return E.left(`${where}.specHash: not a sha256 hash: ${JSON.stringify(specHash)}`);
  let spec: Deployment | undefined;
  if (w.right.spec !== undefined) {
    const d = DeploymentCodec.decode(w.right.spec);
    if (E.isLeft(d)) return E.left(`${where}.spec: ${formatValidationErrors(d.left)}`);
    spec = d.right;
    if (spec.name !== name) return E.left(`${where}.spec.name is ${JSON.stringify(spec.name)}`);
  }
  const actual = spec === undefined ? specHash : specHashOf(spec);
  return E.right({
    name,
    specHash,
    ...(actual !== specHash ? { tampered: specMismatch(specHash, actual) } : {}),
    ...(revision !== undefined ? { revision } : {}),
    ...(spec !== undefined ? { spec } : {}),
    fingerprint: entryFingerprint(revision, specHash),
    wire: {
      name,
      specHash,
      ...(revision !== undefined ? { revision } : {}),
      ...(w.right.spec !== undefined ? { spec: w.right.spec } : {}),
    },
  });
};

const decodeObserved = (id: DeviceId, u: unknown, index: number): E.Either<string, ObservedState> => {
  const w = ObservedWire.decode(u);
  const where = `status.deployments[${index}]`;
  if (E.isLeft(w)) return E.left(`${where}: ${formatValidationErrors(w.left)}`);
  const { name, phase, at, specHash, error, health } = w.right;
  const o = ObservedStateCodec.decode({
    device: id,
    deployment: name,
    phase,
    at,
    ...(specHash !== undefined ? { specHash } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(health !== undefined ? { health } : {}),
  });
  return E.isLeft(o) ? E.left(`${where}: ${formatValidationErrors(o.left)}`) : E.right(o.right);
};

const DateString = t.string.pipe(
  new t.Type<Date, string, string>(
    "DateTime",
    (u): u is Date => u instanceof Date,
    (s, c) => {
      const d = new Date(s);
      return Number.isNaN(d.getTime()) ? t.failure(s, c, `invalid date-time ${JSON.stringify(s)}`) : t.success(d);
    },
    (d) => d.toISOString(),
  ),
);

/** Decodes one listed object; never throws. */
export const decodeDeviceObject = (u: unknown): E.Either<DeviceObjectProblem, DeviceObject> => {
  const env = Envelope.decode(u);
  if (E.isLeft(env)) {
    const name = (u as { metadata?: { name?: unknown } } | null)?.metadata?.name;
    return E.left({ _tag: "NotADevice", name: typeof name === "string" ? name : "?", message: `not an object: ${formatValidationErrors(env.left)}` });
  }
  const { apiVersion, kind, metadata } = env.right;
  const id = DeviceId.decode(metadata.name);
  if (E.isLeft(id)) return E.left({ _tag: "NotADevice", name: metadata.name, message: `name ${JSON.stringify(metadata.name)} is not a device id (RFC 1123 DNS label)` });
  const unreadable = (message: string) => E.left({ _tag: "Unreadable" as const, id: id.right, message });
  if (apiVersion !== API_VERSION || kind !== DEVICE.kind) return unreadable(`unknown version ${apiVersion}, kind ${kind} (expected ${API_VERSION} ${DEVICE.kind})`);

  const parts = Parts.decode(u);
  if (E.isLeft(parts)) return unreadable(formatValidationErrors(parts.left));
  const spec = parts.right.spec ?? {};
  const status = parts.right.status ?? {};

  let registration: Device | undefined;
  if (spec.arch !== undefined) {
    const d = DeviceCodec.decode({
      id: id.right,
      labels: spec.labels ?? {},
      arch: spec.arch,
      ...(spec.inventory !== undefined ? { inventory: spec.inventory } : {}),
      ...(spec.agentVersion !== undefined ? { agentVersion: spec.agentVersion } : {}),
    });
    if (E.isLeft(d)) return unreadable(`spec: ${formatValidationErrors(d.left)}`);
    registration = d.right;
  }

  let lastHeartbeat: Date | undefined;
  if (status.lastHeartbeat !== undefined) {
    const hb = DateString.decode(status.lastHeartbeat);
    if (E.isLeft(hb)) return unreadable(`status.lastHeartbeat: ${formatValidationErrors(hb.left)}`);
    lastHeartbeat = hb.right;
  }

  const entries: PublishedEntry[] = [];
  for (const [i, raw] of (spec.deployments ?? []).entries()) {
    const e = decodeEntry(raw, i);
    if (E.isLeft(e)) return unreadable(e.left);
    entries.push(e.right);
  }
  const observed: ObservedState[] = [];
  for (const [i, raw] of (status.deployments ?? []).entries()) {
    const o = decodeObserved(id.right, raw, i);
    if (E.isLeft(o)) return unreadable(o.left);
    observed.push(o.right);
  }
  if (new Set(entries.map((e) => e.name)).size !== entries.length) return unreadable("spec.deployments names a deployment twice");

  return E.right({
    id: id.right,
    resourceVersion: metadata.resourceVersion,
    ...(registration !== undefined ? { registration } : {}),
    ...(lastHeartbeat !== undefined ? { lastHeartbeat } : {}),
    entries: entries.sort(byName),
    observed: observed.sort(Ord.contramap((o: { readonly deployment: string }) => o.deployment)(S.Ord).compare),
    managedFields: metadata.managedFields ?? [],
    metadataLabels: metadata.labels ?? {},
    ...(spec.declaredLabels !== undefined && spec.declaredLabels !== null ? { declaredLabels: spec.declaredLabels } : {}),
  });
};

// -------------------------------------------------------------------------------------
// apply configurations
// -------------------------------------------------------------------------------------

/** An entry in wire form, as the control plane writes it. */
export const encodeEntry = (name: DeploymentName, specHash: string, revision: string, spec: Deployment): Readonly<Record<string, unknown>> => ({
  name,
  specHash,
  revision,
  spec: DeploymentCodec.encode(spec),
});

/**
 * The control plane's whole intent for one Device, conditional on
 * `resourceVersion`: its entries (wire form), and the names of all entries
 * the Device will hold (its own and others') for the printer column.
 */
export const desiredConfig = (
  id: DeviceId,
  namespace: string,
  resourceVersion: string,
  entries: ReadonlyArray<Readonly<Record<string, unknown>> & { readonly name: string }>,
  allNames: ReadonlyArray<string>,
): object => ({
  apiVersion: API_VERSION,
  kind: DEVICE.kind,
  metadata: { name: id, namespace, resourceVersion, annotations: { [DEPLOYMENTS_ANNOTATION]: [...allNames].sort(S.Ord.compare).join(",") } },
  // No entries: no field (an applied `[]` and the last entry let go of both leave `null` on 1.20).
  spec: entries.length === 0 ? {} : { deployments: [...entries].sort(byName) },
});

/**
 * The label writer's whole intent for one Device: `labels` as
 * `metadata.labels`, and `declared` (the World's declaration) as
 * `spec.declaredLabels`; omitted fields are let go of, so a device no longer
 * declared loses `spec.declaredLabels`.
 */
export const labelsConfig = (
  id: DeviceId,
  namespace: string,
  resourceVersion: string,
  labels: Readonly<Record<string, string>>,
  declared: Readonly<Record<string, string>> | undefined,
): object => ({
  apiVersion: API_VERSION,
  kind: DEVICE.kind,
  metadata: { name: id, namespace, resourceVersion, labels: { ...labels } },
  spec: declared === undefined ? {} : { declaredLabels: { ...declared } },
});

/** An empty Device, created before the first conditional write to a device that has no object yet. */
export const emptyDevice = (id: DeviceId, namespace: string): object => ({
  apiVersion: API_VERSION,
  kind: DEVICE.kind,
  metadata: { name: id, namespace },
});

/**
 * What an agent applies when it registers. Its labels go to `spec.labels`
 * only: `metadata.labels` are the selectors' view, which only the control
 * plane knows (a World may declare the device with other labels).
 */
export const registrationConfig = (d: Device, namespace: string): object => ({
  apiVersion: API_VERSION,
  kind: DEVICE.kind,
  metadata: { name: d.id, namespace },
  spec: {
    labels: { ...d.labels },
    arch: d.arch,
    ...(d.agentVersion !== undefined ? { agentVersion: d.agentVersion } : {}),
    ...(d.inventory !== undefined ? { inventory: d.inventory } : {}),
  },
});

const PHASES: ReadonlyArray<ObservedState["phase"]> = ["Running", "Pending", "Failed"];

/** `status.summary`: the phases counted, in a fixed order, e.g. `Running 2, Failed 1`. */
export const observedSummary = (observed: ReadonlyArray<ObservedState>): string =>
  PHASES.map((p) => [p, observed.filter((o) => o.phase === p).length] as const)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${p} ${n}`)
    .join(", ");

/** Observed state in its wire form (the agent's status). */
export const encodeObserved = (o: ObservedState): Record<string, unknown> => ({
  name: o.deployment,
  phase: o.phase,
  at: o.at.toISOString(),
  ...(o.specHash !== undefined ? { specHash: o.specHash } : {}),
  ...(o.error !== undefined ? { error: o.error } : {}),
  ...(o.health !== undefined ? { health: o.health } : {}),
});
