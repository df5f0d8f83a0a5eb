/**
 * Wire formats of the NATS KV buckets (version 1), as io-ts codecs.
 *
 * Every value is a JSON object with `v: 1`. Readers are permissive: unknown
 * extra fields are ignored and optional fields may be missing, so agents and
 * control planes of neighbouring versions can share a bucket; a value with
 * another `v` is reported as unreadable, never guessed at. docs/nats.md is the
 * reference for these shapes.
 *
 * Keys are validated here too: `<device>` and `<device>.<deployment>`, each
 * part an RFC 1123 DNS label. A key that names a valid device but is
 * otherwise unreadable still tells the reader which device it belongs to.
 *
 * Value decoders never throw; they return a tagged `WireError` (data: which
 * step failed and with what), formatted into one line by `formatWireError`
 * where a person reads it.
 *
 * Law (test/nats/wire.test.ts): decode(encode(x)) = x for every value written.
 */
import * as t from "io-ts";
import { DateFromISOString } from "../../algebra/Time.ts";
import * as E from "fp-ts/lib/Either.js";
import { DeploymentCodec, shortHash, specHash as hashOf, specMismatch, type Deployment } from "../../algebra/Deployment.ts";
import { DeviceCodec, type Device } from "../../algebra/Device.ts";
import { decodeProblems, formatProblem, type DecodeProblem } from "../../algebra/DecodeError.ts";
import { RolloutRecordCodec, encodeRecord, keyOf as keyOfRecord, type RolloutKey, type RolloutRecord } from "../../diff/Ledger.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { dnsLabelProblem, isDnsLabel, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import type { Health, Phase } from "../../diff/Reality.ts";
import type { EntrySignature } from "../../trust/SignedEntry.ts";
import { signatureJson } from "../../trust/SignedBatch.ts";

export const WIRE_VERSION = 1;

// -------------------------------------------------------------------------------------
// keys
// -------------------------------------------------------------------------------------

export interface EntryKey {
  readonly device: DeviceId;
  readonly deployment: DeploymentName;
}

/** Why a key could not be read; `device` when its device part is still a valid id. */
export interface KeyProblem {
  readonly message: string;
  readonly device?: DeviceId;
}

export const parseDeviceKey = (key: string): E.Either<KeyProblem, DeviceId> => {
  if (isDnsLabel(key)) return E.right(key as DeviceId);
  const problem = dnsLabelProblem(key);
  return problem === undefined ? E.right(key as DeviceId) : E.left({ message: `invalid device id in key: ${problem}` });
};

export const parseEntryKey = (key: string): E.Either<KeyProblem, EntryKey> => {
  const dot = key.indexOf(".");
  if (dot === -1) return E.left({ message: "expected a key <device>.<deployment>" });
  const d = key.slice(0, dot);
  const n = key.slice(dot + 1);
  // Fast path (every key of a healthy fleet); the slow one explains what is wrong.
  if (isDnsLabel(d) && isDnsLabel(n)) return E.right({ device: d as DeviceId, deployment: n as DeploymentName });
  const dp = dnsLabelProblem(d);
  if (dp !== undefined) return E.left({ message: `invalid device id in key: ${dp}` });
  const device = d as DeviceId;
  if (n.includes(".")) return E.left({ message: "expected a key <device>.<deployment> (found more than one '.')", device });
  const np = dnsLabelProblem(n);
  if (np !== undefined) return E.left({ message: `invalid deployment name in key: ${np}`, device });
  return E.right({ device, deployment: n as DeploymentName });
};

// -------------------------------------------------------------------------------------
// values
// -------------------------------------------------------------------------------------


// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/** Why a value could not be read. */
export type WireError =
  | { readonly _tag: "NotUtf8" }
  | { readonly _tag: "NotJson"; readonly reason: string }
  | { readonly _tag: "NotAnObject" }
  | { readonly _tag: "NoVersion" }
  /** `found` is the JSON text of the value's `v`. */
  | { readonly _tag: "UnsupportedVersion"; readonly found: string }
  | { readonly _tag: "Invalid"; readonly problems: ReadonlyArray<DecodeProblem> }
  | { readonly _tag: "WrongDeployment"; readonly found: string; readonly expected: string }
  | { readonly _tag: "WrongDevice"; readonly found: string; readonly expected: string };

export const matchWireError =
  <A>(cases: { readonly [K in WireError["_tag"]]: (e: Extract<WireError, { readonly _tag: K }>) => A }) =>
  (e: WireError): A => {
    switch (e._tag) {
      case "NotUtf8":
        return cases.NotUtf8(e);
      case "NotJson":
        return cases.NotJson(e);
      case "NotAnObject":
        return cases.NotAnObject(e);
      case "NoVersion":
        return cases.NoVersion(e);
      case "UnsupportedVersion":
        return cases.UnsupportedVersion(e);
      case "Invalid":
        return cases.Invalid(e);
      case "WrongDeployment":
        return cases.WrongDeployment(e);
      case "WrongDevice":
        return cases.WrongDevice(e);
    }
  };

/** One line for people. */
export const formatWireError: (e: WireError) => string = matchWireError({
  NotUtf8: () => "value is not UTF-8",
  NotJson: (e) => `value is not JSON (${e.reason})`,
  NotAnObject: () => "value is not a JSON object",
  NoVersion: () => "value has no wire version `v`",
  UnsupportedVersion: (e) => `unsupported wire version ${e.found} (this reader knows ${WIRE_VERSION})`,
  Invalid: (e) => e.problems.map(formatProblem).join("; "),
  WrongDeployment: (e) => `spec is for deployment ${JSON.stringify(e.found)}, not ${JSON.stringify(e.expected)}`,
  WrongDevice: (e) => `value is for device ${JSON.stringify(e.found)}, not ${JSON.stringify(e.expected)}`,
});

// -------------------------------------------------------------------------------------
// decoders
// -------------------------------------------------------------------------------------

const PhaseCodec = t.keyof({ Pending: null, Running: null, Failed: null, Rejected: null });
const HealthCodec = t.keyof({ starting: null, healthy: null, unhealthy: null });

/**
 * `desired-state` `<device>.<deployment>`: the full spec (agents run it) and its hash.
 * An entry a staged rollout wrote also carries `prior` (the spec hash it held before, or
 * null: none), control-plane metadata for rollback that agents ignore and signatures do not
 * cover; the control plane decodes it (`desiredValueDecoder`), devices never look at it.
 */
export const DesiredValueV1 = t.type({ v: t.literal(1), specHash: t.string, spec: DeploymentCodec });
const PriorV1 = t.union([t.string, t.null]);
/**
 * The optional `sig` of a desired value: the entry's signature (src/trust/SignedEntry.ts).
 * Optional so that unsigned entries (a control plane without a signing key) still decode;
 * whether one is required is the agent's decision (`--trust`), not the reader's.
 */
export const EntrySignatureV1 = t.type({
  device: t.string,
  deployment: t.string,
  revision: t.number,
  index: t.number,
  proof: t.string,
  jws: t.string,
});
/** `device-info` `<device>`: what the agent registered. */
export const DeviceInfoValueV1 = t.type({ v: t.literal(1), id: t.string });
/** `device-state` `<device>.<deployment>`: what the agent observes. */
export const DeviceStateValueV1 = t.intersection([
  t.type({ v: t.literal(1), phase: PhaseCodec, time: DateFromISOString }),
  // `health`: added later within v1; older readers ignore it, newer readers of older agents find none.
  t.partial({ specHash: t.string, error: t.string, health: HealthCodec }),
]);
/**
 * `device-heartbeat` `<device>`: liveness; `instance` names the agent run,
 * `others` the other instances it saw heartbeating as the same device.
 */
export const HeartbeatValueV1 = t.intersection([
  t.type({ v: t.literal(1), time: DateFromISOString }),
  t.partial({ agentVersion: t.string, instance: t.string, others: t.array(t.string) }),
]);

export interface DesiredValue {
  readonly spec: Deployment;
  readonly specHash: string;
  /** The entry's signature, when the control plane signed it. */
  readonly signature?: EntrySignature;
  /** Set when the spec does not hash to `specHash` (edited behind the control plane's back): the control plane republishes it. */
  readonly tampered?: string;
  /** Written by a staged rollout: the spec hash the entry held before (`null`: none). */
  readonly prior?: string | null;
}

/**
 * A desired value as a device reads it: the hash the value states and the one its spec
 * really has (they differ in a tampered value), and its signature field as found.
 */
export interface DesiredParts {
  readonly spec: Deployment;
  readonly specHash: string;
  readonly actualSpecHash: string;
  /** Absent: unsigned; `Left`: a `sig` field that is not a signature (why). */
  readonly signature?: E.Either<ReadonlyArray<DecodeProblem>, EntrySignature>;
  /** The `prior` field as found, undecoded: only the control plane reads it (`desiredValueDecoder`). */
  readonly prior?: unknown;
}

export interface DeviceStateValue {
  readonly phase: Phase;
  readonly specHash?: string;
  readonly error?: string;
  /** Only when the running spec declares a health check. */
  readonly health?: Health;
  readonly time: Date;
}

export interface HeartbeatValue {
  readonly time: Date;
  readonly agentVersion?: string;
  readonly instance?: string;
  readonly others?: ReadonlyArray<string>;
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

const utf8 = (bytes: Uint8Array): E.Either<WireError, string> => {
  try {
    return E.right(textDecoder.decode(bytes));
  } catch {
    return E.left({ _tag: "NotUtf8" });
  }
};

/** JSON text to an object carrying this reader's wire version; every failure becomes one message. */
const parseJsonVersioned = (text: string): E.Either<WireError, unknown> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left({ _tag: "NotJson", reason: errorMessage(e) });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return E.left({ _tag: "NotAnObject" });
  const v = (json as { v?: unknown }).v;
  if (v === undefined) return E.left({ _tag: "NoVersion" });
  if (v !== WIRE_VERSION) return E.left({ _tag: "UnsupportedVersion", found: JSON.stringify(v) });
  return E.right(json);
};

const parseVersioned = (bytes: Uint8Array): E.Either<WireError, unknown> => {
  const text = utf8(bytes);
  return E.isLeft(text) ? text : parseJsonVersioned(text.right);
};

const decodeWith = <A>(codec: t.Decoder<unknown, A>, u: unknown): E.Either<WireError, A> => {
  const r = codec.decode(u);
  return E.isLeft(r) ? E.left({ _tag: "Invalid", problems: decodeProblems(r.left) }) : r;
};

interface SpecPart {
  readonly spec: Deployment;
  readonly specHash: string;
  readonly actualSpecHash: string;
  readonly prior?: unknown;
}

const decodeSpecPart = (json: unknown): E.Either<WireError, SpecPart> => {
  const r = decodeWith(DesiredValueV1, json);
  if (E.isLeft(r)) return r;
  const { spec, specHash } = r.right;
  const prior = (json as { readonly prior?: unknown }).prior;
  return E.right({ spec, specHash, actualSpecHash: hashOf(spec), ...(prior !== undefined ? { prior } : {}) });
};

const signatureOf = (sig: unknown): E.Either<ReadonlyArray<DecodeProblem>, EntrySignature> => {
  const r = EntrySignatureV1.decode(sig);
  return E.isLeft(r) ? E.left(decodeProblems(r.left).map((p) => ({ path: p.path === "" ? "sig" : `sig.${p.path}`, message: p.message }))) : E.right(r.right);
};

/**
 * A `desired-state` decoder for one bulk read that keeps a stated hash that differs from the
 * spec's (the agent reports it; `desiredValueDecoder` marks it tampered). One spec is published to
 * many devices, so the spec part is memoised: by the whole text for unsigned values (identical
 * bytes), by the spec's text for signed ones (each carries its own signature), so a fleet of
 * 100k entries with a handful of specs decodes and hashes each spec once.
 */
export const desiredPartsDecoder = (): ((bytes: Uint8Array, key: EntryKey) => E.Either<WireError, DesiredParts>) => {
  const byText = new Map<string, E.Either<WireError, SpecPart>>();
  const bySpec = new Map<string, E.Either<WireError, SpecPart>>();
  return (bytes, key) => {
    const text = utf8(bytes);
    if (E.isLeft(text)) return text;
    let part = byText.get(text.right);
    let signature: E.Either<ReadonlyArray<DecodeProblem>, EntrySignature> | undefined;
    if (part === undefined) {
      const json = parseJsonVersioned(text.right);
      if (E.isLeft(json)) return json;
      const o = json.right as { readonly sig?: unknown; readonly spec?: unknown; readonly specHash?: unknown; readonly prior?: unknown };
      if (o.sig === undefined) {
        part = decodeSpecPart(o);
        byText.set(text.right, part);
      } else {
        signature = signatureOf(o.sig);
        const specKey = `${String(o.specHash)}\u0000${JSON.stringify(o.prior) ?? ""}\u0000${JSON.stringify(o.spec) ?? ""}`;
        part = bySpec.get(specKey);
        if (part === undefined) bySpec.set(specKey, (part = decodeSpecPart(o)));
      }
    }
    if (E.isLeft(part)) return part;
    if (part.right.spec.name !== key.deployment) return E.left({ _tag: "WrongDeployment", found: part.right.spec.name, expected: key.deployment });
    return E.right(signature === undefined ? part.right : { ...part.right, signature });
  };
};

/**
 * A `desired-state` decoder for one bulk read (memoised, see `desiredPartsDecoder`). A value
 * whose spec does not hash to its stated hash is refused: the diff trusts the hash, and such a
 * value would never be corrected. A `sig` that is not a signature makes the value unreadable.
 */
export const desiredValueDecoder = (): ((bytes: Uint8Array, key: EntryKey) => E.Either<WireError, DesiredValue>) => {
  const parts = desiredPartsDecoder();
  return (bytes, key) => {
    const r = parts(bytes, key);
    if (E.isLeft(r)) return r;
    const { spec, specHash, actualSpecHash, signature, prior } = r.right;
    // The diff trusts the hash: a value whose spec does not hash to it is kept, marked, so that the plan repairs it.
    const tampered = actualSpecHash === specHash ? {} : { tampered: specMismatch(specHash, actualSpecHash) };
    let priorField = {};
    if (prior !== undefined) {
      if (!PriorV1.is(prior)) return E.left({ _tag: "Invalid", problems: [{ path: "prior", message: `expected a spec hash or null, found ${JSON.stringify(prior)?.slice(0, 80) ?? typeof prior}` }] });
      priorField = { prior };
    }
    if (signature === undefined) return E.right({ spec, specHash, ...tampered, ...priorField });
    if (E.isLeft(signature)) return E.left({ _tag: "Invalid", problems: signature.left });
    return E.right({ spec, specHash, signature: signature.right, ...tampered, ...priorField });
  };
};

export const decodeDesiredValue = (bytes: Uint8Array, key: EntryKey): E.Either<WireError, DesiredValue> => desiredValueDecoder()(bytes, key);

export const decodeDeviceInfoValue = (bytes: Uint8Array, id: DeviceId): E.Either<WireError, Device> => {
  const json = parseVersioned(bytes);
  if (E.isLeft(json)) return json;
  const head = decodeWith(DeviceInfoValueV1, json.right);
  if (E.isLeft(head)) return head;
  if (head.right.id !== id) return E.left({ _tag: "WrongDevice", found: head.right.id, expected: id });
  return decodeWith(DeviceCodec, json.right);
};

export const decodeDeviceStateValue = (bytes: Uint8Array): E.Either<WireError, DeviceStateValue> => {
  const json = parseVersioned(bytes);
  if (E.isLeft(json)) return json;
  const r = decodeWith(DeviceStateValueV1, json.right);
  if (E.isLeft(r)) return r;
  // The in-memory value is exact: the wire's extra fields stay on the wire.
  const { phase, time, specHash, error, health } = r.right;
  return E.right({
    phase,
    time,
    ...(specHash !== undefined ? { specHash } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(health !== undefined ? { health } : {}),
  });
};

export const decodeHeartbeatValue = (bytes: Uint8Array): E.Either<WireError, HeartbeatValue> => {
  const json = parseVersioned(bytes);
  if (E.isLeft(json)) return json;
  const r = decodeWith(HeartbeatValueV1, json.right);
  if (E.isLeft(r)) return r;
  const { time, agentVersion, instance, others } = r.right;
  return E.right({
    time,
    ...(agentVersion !== undefined ? { agentVersion } : {}),
    ...(instance !== undefined ? { instance } : {}),
    ...(others !== undefined && others.length > 0 ? { others } : {}),
  });
};

/**
 * The `fleet-rollouts` key of a rollout: `<deployment>.<spec hash>` with the hash's `:` as `=`
 * (KV keys allow `[-/_=.A-Za-z0-9]`); the value names its rollout, the key only addresses it.
 */
export const rolloutBucketKey = (k: RolloutKey): string => k.replace("@", ".").replace(/[^-/_=.A-Za-z0-9]/g, "=");

/** `fleet-rollouts` `<deployment>.<hash>`: a rollout's ledger record (diff/Ledger.ts), at the key its own identity gives. */
export const decodeRolloutValue = (bytes: Uint8Array, key: string): E.Either<WireError, RolloutRecord> => {
  const json = parseVersioned(bytes);
  if (E.isLeft(json)) return json;
  const r = decodeWith(RolloutRecordCodec, json.right);
  if (E.isLeft(r)) return r;
  const at = rolloutBucketKey(keyOfRecord(r.right));
  if (at !== key) return E.left({ _tag: "Invalid", problems: [{ path: "", message: `a record of rollout ${keyOfRecord(r.right)} belongs at key ${at}, not ${key}` }] });
  return r;
};

export const encodeRolloutValue = (r: RolloutRecord): Uint8Array => textEncoder.encode(JSON.stringify({ v: WIRE_VERSION, ...(encodeRecord(r) as object) }));

// -------------------------------------------------------------------------------------
// encoders
// -------------------------------------------------------------------------------------

// A plan publishes one spec to many devices: encode each deployment once.
const desiredCache = new WeakMap<Deployment, Map<string, { readonly bytes: Uint8Array; readonly open: Buffer }>>();

/** The unsigned value's text, encoded once per spec, hash and prior. */
const cachedDesired = (spec: Deployment, specHash: string, prior: string | null | undefined): { readonly bytes: Uint8Array; readonly open: Buffer } => {
  let byHash = desiredCache.get(spec);
  if (byHash === undefined) desiredCache.set(spec, (byHash = new Map()));
  // Priors are few (the specs a rollout replaces): they share the cache under their own key.
  const cacheKey = prior === undefined ? specHash : `${specHash}\u0000${String(prior)}\u0000${prior === null ? "n" : "s"}`;
  let cached = byHash.get(cacheKey);
  if (cached === undefined) {
    const text = JSON.stringify({ v: WIRE_VERSION, specHash, spec: DeploymentCodec.encode(spec), ...(prior !== undefined ? { prior } : {}) });
    cached = { bytes: textEncoder.encode(text), open: Buffer.from(text.slice(0, -1), "utf8") };
    byHash.set(cacheKey, cached);
  }
  return cached;
};

const SIG_MEMBER = Buffer.from(',"sig":', "latin1");
const CLOSE = Buffer.from("}", "latin1");

/**
 * The `desired-state` value; unsigned, the same bytes for every device that gets this spec.
 * A signature goes last (`sig`), after the spec's shared text (`encodeSignedDesiredValue`).
 */
export const encodeDesiredValue = (spec: Deployment, specHash: string, signature?: EntrySignature, prior?: string | null): Uint8Array =>
  signature === undefined ? cachedDesired(spec, specHash, prior).bytes : encodeSignedDesiredValue(spec, specHash, textEncoder.encode(signatureJson(signature)), prior);

/**
 * A signed `desired-state` value from its signature's JSON bytes (`signatureJson`, as a signer's
 * batch hands them over: SignedBatch.ts): one buffer holding the spec's shared bytes and the
 * signature's, copied, no string in between. A 100k-entry apply encodes 100k of them.
 */
export const encodeSignedDesiredValue = (spec: Deployment, specHash: string, signatureJsonBytes: Uint8Array, prior?: string | null): Uint8Array => {
  const { open } = cachedDesired(spec, specHash, prior);
  const out = Buffer.allocUnsafe(open.length + SIG_MEMBER.length + signatureJsonBytes.length + CLOSE.length);
  let at = open.copy(out, 0);
  at += SIG_MEMBER.copy(out, at);
  out.set(signatureJsonBytes, at);
  at += signatureJsonBytes.length;
  CLOSE.copy(out, at);
  return out;
};

/** `instance`: the agent run that registered (readers ignore it; it helps tell two agents of one id apart). */
export const encodeDeviceInfoValue = (device: Device, instance?: string): Uint8Array =>
  textEncoder.encode(JSON.stringify({ v: WIRE_VERSION, ...(DeviceCodec.encode(device) as object), ...(instance !== undefined ? { instance } : {}) }));

export const encodeDeviceStateValue = (s: DeviceStateValue): Uint8Array =>
  textEncoder.encode(
    JSON.stringify({
      v: WIRE_VERSION,
      phase: s.phase,
      ...(s.specHash !== undefined ? { specHash: s.specHash } : {}),
      ...(s.error !== undefined ? { error: s.error } : {}),
      ...(s.health !== undefined ? { health: s.health } : {}),
      time: s.time.toISOString(),
    }),
  );

export const encodeHeartbeatValue = (h: HeartbeatValue): Uint8Array =>
  textEncoder.encode(
    JSON.stringify({
      v: WIRE_VERSION,
      time: h.time.toISOString(),
      ...(h.agentVersion !== undefined ? { agentVersion: h.agentVersion } : {}),
      ...(h.instance !== undefined ? { instance: h.instance } : {}),
      ...(h.others !== undefined && h.others.length > 0 ? { others: h.others } : {}),
    }),
  );
