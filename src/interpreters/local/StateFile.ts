/**
 * The local backend's state file, `state.json` in the state directory, like
 * Terraform's `terraform.tfstate`: a versioned envelope (format, version,
 * lineage, serial, revision) around the Reality in `RealityCodec`'s flat form.
 *
 * Contract:
 * - writes are atomic: the new state is written to a temporary file, fsynced
 *   and renamed over `state.json` (then the directory is fsynced); a crash at
 *   any point leaves either the previous or the new state, never a mix. The
 *   previous state is first kept, the same way, as `state.json.backup`;
 * - a file that is not a state file at all (not JSON, wrong envelope, newer
 *   format) is a `StateCorruptError` that says how to recover; it is never
 *   silently replaced by an empty state;
 * - inside a good envelope, one bad record is reported with its key and
 *   skipped (its device becomes `damaged`), and is written back verbatim so
 *   that a later apply never loses what it could not read;
 * - `serial` counts writes; `revision` numbers desired-entry writes, and an
 *   entry's fingerprint is its revision plus the state's lineage, so a plan
 *   made against another state (or an older one) is always stale.
 * - arrays are written sorted (devices by id, entries by device then
 *   deployment) so the file is deterministic and diffs well.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
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

export const STATE_FILE = "state.json";
export const BACKUP_FILE = "state.json.backup";
export const STATE_FORMAT = "fleet-local-state";
export const STATE_VERSION = 1;

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Records kept exactly as found because they could not be decoded. */
export interface Unreadable {
  readonly devices: ReadonlyArray<unknown>;
  readonly desired: ReadonlyArray<unknown>;
  readonly observed: ReadonlyArray<unknown>;
}

export interface LocalState {
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

export const emptyState = (): LocalState => ({
  lineage: randomUUID(),
  serial: 0,
  revision: 0,
  reality: reality({}),
  unreadable: { devices: [], desired: [], observed: [] },
  recordedDamage: [],
});

export class StateCorruptError extends Error {
  override readonly name = "StateCorruptError";
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
  readonly state: LocalState;
  readonly problems: ReadonlyArray<ReadProblem>;
}

const describeState = (path: string, backup: string, backupNote: string): string =>
  `${path} is not a usable state file; nothing was changed. To recover, restore the previous state: \`cp ${backup} ${path}\`${backupNote}, or move ${path} away to start from an empty state`;

/**
 * Decodes the text of a state file. `Left` is the reason the whole file is
 * unusable; bad records inside a good envelope are `problems`.
 */
export const decodeState = (text: string, source = STATE_FILE): { readonly _tag: "Corrupt"; readonly reason: string } | ({ readonly _tag: "Ok" } & Decoded) => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { _tag: "Corrupt", reason: `not valid JSON (${(e as Error).message})` };
  }
  if (typeof json === "object" && json !== null && typeof (json as { version?: unknown }).version === "number") {
    const v = (json as { version: number }).version;
    if ((json as { format?: unknown }).format === STATE_FORMAT && v > STATE_VERSION)
      return { _tag: "Corrupt", reason: `written by a newer fleet (state format version ${v}, this fleet reads up to ${STATE_VERSION}); upgrade fleet` };
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
      reality: reality({ devices, desired, observed, damaged: [...damaged].sort(Ord.contramap(([k]: readonly [string, unknown]) => k)(S.Ord).compare) }),
      unreadable,
      recordedDamage,
    },
    problems,
  };
};

// -------------------------------------------------------------------------------------
// encoding
// -------------------------------------------------------------------------------------

const byEntry = concatAll(Ord.getMonoid<{ device: DeviceId; deployment: DeploymentName }>())([
  Ord.contramap((e: { device: DeviceId }) => e.device)(S.Ord),
  Ord.contramap((e: { deployment: DeploymentName }) => e.deployment)(S.Ord),
]).compare;

export const encodeState = (s: LocalState): string => {
  // Only what the file itself recorded as damaged is persisted: damage found while
  // reading is a property of the unreadable records, which are written back verbatim.
  const clean: Reality = { ...s.reality, damaged: new Map(s.recordedDamage) };
  const flat = RealityCodec.encode(clean) as { devices: Array<{ device: { id: string } }>; desired: DesiredEntry[]; observed: ObservedState[]; damaged: unknown[] };
  const body = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    lineage: s.lineage,
    serial: s.serial,
    revision: s.revision,
    reality: {
      devices: [...flat.devices.sort(Ord.contramap((d: { device: { id: string } }) => d.device.id)(S.Ord).compare), ...s.unreadable.devices],
      desired: [...flat.desired.sort(byEntry), ...s.unreadable.desired],
      observed: [...flat.observed.sort(byEntry), ...s.unreadable.observed],
      damaged: flat.damaged,
    },
  };
  return `${JSON.stringify(body, null, 2)}\n`;
};

// -------------------------------------------------------------------------------------
// files
// -------------------------------------------------------------------------------------

export interface Loaded extends Decoded {
  /** The file's exact text (empty when there is no state yet), kept as the next backup. */
  readonly text: string;
}

export const loadState = async (stateDir: string): Promise<Loaded> => {
  const path = join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { state: emptyState(), problems: [], text: "" };
    throw e;
  }
  const d = decodeState(text, path);
  if (d._tag === "Ok") return { state: d.state, problems: d.problems, text };
  const backup = join(stateDir, BACKUP_FILE);
  let note = "";
  try {
    const b = decodeState(await readFile(backup, "utf8"), backup);
    note = b._tag === "Ok" ? ` (serial ${b.state.serial})` : " (the backup is unusable too)";
  } catch {
    note = " (no backup exists)";
  }
  throw new StateCorruptError(`${path}: ${d.reason}. ${describeState(path, backup, note)}`);
};

const TEMP = /^\.state\.json(\.backup)?\.[0-9]+\.[0-9a-f]{8}\.tmp$/;

/** Hooks for the crash tests: run between the temporary write and the rename. */
export interface WriteHooks {
  readonly beforeRename?: (tempPath: string) => Promise<void> | void;
}

const writeAtomic = async (dir: string, name: string, text: string, hooks: WriteHooks = {}): Promise<void> => {
  const tmp = join(dir, `.${name}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  const fh = await open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await hooks.beforeRename?.(tmp);
  await rename(tmp, join(dir, name));
  // The rename itself must survive a power cut: fsync the directory.
  const d = await open(dir, "r");
  try {
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await d.close();
  }
};

/**
 * Writes `next` (whose serial the caller has already advanced), keeping
 * `previousText` as the backup. Call only while holding the lock.
 */
export const saveState = async (stateDir: string, next: LocalState, previousText: string, hooks: WriteHooks = {}): Promise<void> => {
  await mkdir(stateDir, { recursive: true });
  // Temporary files of writers that crashed: the lock guarantees no live writer owns one.
  for (const f of await readdir(stateDir)) if (TEMP.test(f)) await unlink(join(stateDir, f)).catch(() => undefined);
  if (previousText !== "") await writeAtomic(stateDir, BACKUP_FILE, previousText);
  await writeAtomic(stateDir, STATE_FILE, encodeState(next), hooks);
};
