/**
 * The version-1 state file, `state.json`: one JSON document (format, version,
 * lineage, serial, revision, and the Reality in `RealityCodec`'s flat form,
 * each desired entry carrying its spec inline). Only read, to migrate a state
 * directory to version 2 (`StateFile.ts`): past about 110k devices such a file
 * exceeds V8's largest string and cannot be read at all, which is why the
 * format was replaced.
 *
 * Contract: a file that is not a version-1 state is `Corrupt` with a reason;
 * inside a good envelope one bad record is a problem with its key, kept as it
 * was (in `unreadable`), and its device is damaged.
 */
import * as t from "io-ts";
import { isRight } from "fp-ts/lib/Either.js";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { DeviceId, type DeploymentName } from "../../algebra/Name.ts";
import {
  DesiredEntryCodec,
  ObservedStateCodec,
  ReportedDeviceCodec,
  RealityCodec,
  reality,
  type DesiredEntry,
  type ObservedState,
  type Reality,
  type ReportedDevice,
} from "../../diff/Reality.ts";
import type { ReadProblem } from "../Interpreter.ts";

export const LEGACY_STATE_FILE = "state.json";
export const LEGACY_BACKUP_FILE = "state.json.backup";
const STATE_FORMAT = "fleet-local-state";
const LEGACY_VERSION = 1;

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Records kept exactly as found because they could not be decoded. */
export interface Unreadable {
  readonly devices: ReadonlyArray<unknown>;
  readonly desired: ReadonlyArray<unknown>;
  readonly observed: ReadonlyArray<unknown>;
}

export interface LegacyState {
  /** Identifies one history of states; a new state directory starts a new lineage. */
  readonly lineage: string;
  /** Number of writes so far (0: no state file yet). */
  readonly serial: number;
  /** Last desired-entry revision handed out. */
  readonly revision: number;
  readonly reality: Reality;
  readonly unreadable: Unreadable;
  /** Damage recorded in the file itself (not found while reading it). */
  readonly recordedDamage: ReadonlyArray<readonly [DeviceId, string]>;
}


// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

const Int = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, "NonNegativeInteger");

const Envelope = t.intersection([
  t.type({ format: t.literal(STATE_FORMAT), version: Int, lineage: t.string, serial: Int, revision: Int }),
  t.partial({
    reality: t.partial({ devices: t.array(t.unknown), desired: t.array(t.unknown), observed: t.array(t.unknown), damaged: t.array(t.unknown) }),
  }),
]);

const DamageCodec = t.tuple([DeviceId, t.string]);

const field = (u: unknown, ...path: string[]): unknown => {
  let v = u;
  for (const k of path) v = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
};

/** The device a record is about, when at least that much of it is readable. */
const deviceOf = (u: unknown, ...path: string[]): DeviceId | undefined => {
  const v = field(u, ...path);
  return DeviceId.is(v) ? v : undefined;
};

const keyOf = (kind: string, i: number, u: unknown, idPath: string[]): string => {
  const id = field(u, ...idPath);
  const dep = field(u, "deployment");
  if (typeof id !== "string") return `${kind}[${i}]`;
  return kind === "devices" ? id : typeof dep === "string" ? `${id}.${dep}` : `${kind}[${i}]`;
};

export interface Decoded {
  readonly state: LegacyState;
  readonly problems: ReadonlyArray<ReadProblem>;
}

/**
 * Decodes the text of a state file. `Left` is the reason the whole file is
 * unusable; bad records inside a good envelope are `problems`.
 */
export const decodeLegacyState = (text: string, source = LEGACY_STATE_FILE): { readonly _tag: "Corrupt"; readonly reason: string } | ({ readonly _tag: "Ok" } & Decoded) => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { _tag: "Corrupt", reason: `not valid JSON (${(e as Error).message})` };
  }
  if (typeof json === "object" && json !== null && typeof (json as { version?: unknown }).version === "number") {
    const v = (json as { version: number }).version;
    if ((json as { format?: unknown }).format === STATE_FORMAT && v > LEGACY_VERSION)
      return { _tag: "Corrupt", reason: `written by a newer fleet (state format version ${v}, this fleet reads up to ${LEGACY_VERSION}); upgrade fleet` };
  }
  const env = Envelope.decode(json);
  if (!isRight(env)) return { _tag: "Corrupt", reason: `not a fleet local state (${formatValidationErrors(env.left)})` };
  const e = env.right;
  const problems: ReadProblem[] = [];
  const damaged = new Map<DeviceId, string>();
  const unreadable = { devices: [] as unknown[], desired: [] as unknown[], observed: [] as unknown[] };
  const bad = (kind: "devices" | "desired" | "observed", i: number, u: unknown, idPath: string[], message: string): void => {
    const key = keyOf(kind, i, u, idPath);
    problems.push({ source, key, message: `${kind}: ${message}` });
    unreadable[kind].push(u);
    const id = deviceOf(u, ...idPath);
    if (id !== undefined && !damaged.has(id)) damaged.set(id, `${kind} record ${key}: ${message}`);
  };

  const devices: ReportedDevice[] = [];
  (e.reality?.devices ?? []).forEach((u, i) => {
    const r = ReportedDeviceCodec.decode(u);
    if (isRight(r)) devices.push({ device: r.right.device, ...(r.right.lastHeartbeat !== undefined ? { lastHeartbeat: r.right.lastHeartbeat } : {}) });
    else bad("devices", i, u, ["device", "id"], formatValidationErrors(r.left));
  });
  const desired: DesiredEntry[] = [];
  (e.reality?.desired ?? []).forEach((u, i) => {
    const r = DesiredEntryCodec.decode(u);
    if (isRight(r)) desired.push(r.right);
    else bad("desired", i, u, ["device"], formatValidationErrors(r.left));
  });
  const observed: ObservedState[] = [];
  (e.reality?.observed ?? []).forEach((u, i) => {
    const r = ObservedStateCodec.decode(u);
    if (isRight(r)) observed.push(r.right);
    else bad("observed", i, u, ["device"], formatValidationErrors(r.left));
  });
  const recordedDamage: Array<readonly [DeviceId, string]> = [];
  (e.reality?.damaged ?? []).forEach((u, i) => {
    const r = DamageCodec.decode(u);
    if (isRight(r)) recordedDamage.push(r.right);
    else problems.push({ source, key: `damaged[${i}]`, message: formatValidationErrors(r.left) });
  });
  for (const [id, why] of recordedDamage) if (!damaged.has(id)) damaged.set(id, why);

  return {
    _tag: "Ok",
    state: {
      lineage: e.lineage,
      serial: e.serial,
      revision: e.revision,
      reality: reality({ devices, desired, observed, damaged }),
      unreadable,
      recordedDamage,
    },
    problems,
  };
};
