/**
 * The local backend's state files, like Terraform's `terraform.tfstate`:
 * `state.records` (one line per device, `StateRecords.ts`), the specs it
 * refers to by hash (`specs/`, `SpecStore.ts`), and the previous generation
 * `state.records.backup`.
 *
 * Contract:
 * - writes are atomic: specs are stored first (immutable files), then the new
 *   state is streamed to a temporary file, fsynced and renamed over
 *   `state.records` (then the directory is fsynced); a crash at any point
 *   leaves either the previous or the new state, never a mix. Before the
 *   rename the previous state is hard-linked as `state.records.backup` (one
 *   generation back, at no copying cost);
 * - a failed write (a full disk) removes its temporary files before it
 *   reports the error; a crashed writer's are removed by the next writer;
 * - reading streams the file, so its size is not bounded by V8's largest
 *   string; a file that is not a state at all (not a header, newer format,
 *   truncated) is a `StateCorruptError` that says how to recover from the
 *   backup; it is never silently replaced by an empty state;
 * - inside a good file one bad line is a problem with its device's id, is
 *   skipped (the device becomes damaged) and is written back verbatim, so a
 *   later apply never loses what it could not read;
 * - a version-1 `state.json` (no `state.records` yet) is read as it is and
 *   migrated by the next write, which renames it `state.json.migrated`;
 * - `serial` counts writes; `revision` numbers desired-entry writes, and an
 *   entry's fingerprint is its revision plus the state's lineage, so a plan
 *   made against another state (or an older one) is always stale.
 */
import { randomUUID } from "node:crypto";
import { isAscii } from "node:buffer";
import { StringDecoder } from "node:string_decoder";
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import type { Deployment } from "../../algebra/Deployment.ts";
import { emptyReality } from "../../diff/Reality.ts";
import type { ReadProblem } from "../Interpreter.ts";
import { recoveryAdvice, type BackupFound } from "./CorruptState.ts";
import { decodeLegacyState, LEGACY_STATE_FILE, type LegacyState } from "./LegacyStateFile.ts";
import { PackedEntries, type Pattern } from "./PackedEntries.ts";
import { syncDir, type SpecStore } from "./SpecStore.ts";
import { decodeHeader, encodeLines, specTable, stateDecoder, type Corrupt, type Decoded, type LocalState } from "./StateRecords.ts";

export const STATE_FILE = "state.records";
export const BACKUP_FILE = "state.records.backup";
/** What a migrated version-1 `state.json` is renamed to (kept, never read again). */
export const MIGRATED_FILE = "state.json.migrated";

export class StateCorruptError extends Error {
  override readonly name = "StateCorruptError";
}

export const emptyState = (): LocalState => ({
  lineage: randomUUID(),
  serial: 0,
  revision: 0,
  reality: emptyReality,
  specs: [],
  unreadable: [],
  recordedDamage: new Map(),
});

export interface Loaded {
  readonly state: LocalState;
  readonly problems: ReadonlyArray<ReadProblem>;
  /** Where the state came from: nothing yet, this format, or a version-1 file the next write migrates. */
  readonly from: "none" | "records" | "legacy";
}

// -------------------------------------------------------------------------------------
// reading
// -------------------------------------------------------------------------------------

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException | undefined)?.code === "ENOENT";

/**
 * Bytes read at a time. Small on purpose: each chunk becomes a string that
 * dies young (nothing the decoder keeps refers to it), where megabyte chunks
 * went to V8's large-object space, fresh memory for every one.
 */
const READ_CHUNK = 1 << 16;

/**
 * How many lines a file of `size` bytes holds, judged by the lines of its
 * first chunk after the header (`text` from `from`), a little over rather
 * than under; 0 when that chunk has no whole line to judge by.
 */
const expectedLines = (text: string, from: number, size: number): number => {
  let lines = 0;
  let last = from;
  for (let nl = text.indexOf("\n", from); nl !== -1; nl = text.indexOf("\n", nl + 1)) {
    lines++;
    last = nl + 1;
  }
  // A device line is at least a few dozen bytes: the cap bounds what a first chunk of unusually short
  // lines could make the decoder reserve (unused slots cost memory, not correctness).
  return lines === 0 ? 0 : Math.min(Math.ceil(size / 32), Math.ceil((1.05 * lines * Math.max(0, size - from)) / (last - from)));
};

/** Streams a state file through the line decoder; `undefined` when the file does not exist. */
const readRecords = async (path: string, store: SpecStore): Promise<Decoded | Corrupt | undefined> => {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  const specProblems: ReadProblem[] = [];
  let decoder: ReturnType<typeof stateDecoder> | undefined;
  let rest = "";
  // Chunks of a line longer than a chunk (a header with many specs or rollouts), joined once when it
  // ends rather than copied again with every chunk.
  let pending: string[] = [];
  // A chunk of ASCII (ids, labels, hashes: nearly every state) is its own text, made by one copy; from
  // the first chunk that is not, UTF-8 decoding, which keeps a character split across chunks whole.
  const utf8 = new StringDecoder("utf8");
  let decoding = false;
  // One buffer for the whole read: the text made from it is a copy.
  const bytes = Buffer.allocUnsafe(READ_CHUNK);
  try {
    const size = (await fh.stat()).size;
    for (;;) {
      const { bytesRead } = await fh.read(bytes, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      const got = bytes.subarray(0, bytesRead);
      const chunk = !decoding && isAscii(got) ? got.toString("latin1") : ((decoding = true), utf8.write(got));
      if (chunk.indexOf("\n") === -1) {
        pending.push(chunk);
        continue;
      }
      const text = pending.length === 0 ? rest + chunk : rest + pending.join("") + chunk;
      pending = [];
      let start = 0;
      for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
        if (decoder !== undefined) decoder.lineIn(text, start, nl);
        else {
          const h = decodeHeader(text.slice(start, nl));
          if ("_tag" in h) return h;
          decoder = stateDecoder(h, path, (hash) => store.lookup(hash, specProblems), expectedLines(text, nl + 1, size));
        }
        start = nl + 1;
      }
      rest = text.slice(start);
    }
  } finally {
    await fh.close();
  }
  rest += pending.join("");
  if (decoding) rest += utf8.end();
  if (decoder === undefined) return { _tag: "Corrupt", reason: rest === "" ? "the file is empty" : "the file has no complete first line" };
  if (rest !== "") decoder.line(rest);
  const d = decoder.end();
  return d._tag === "Ok" ? { ...d, problems: [...specProblems, ...d.problems] } : d;
};

/** Version 1 in the shape of version 2: unreadable records become lines that stay unreadable (and keep their device damaged). */
const fromLegacy = (s: LegacyState): LocalState => {
  const unreadable: string[] = [];
  for (const kind of ["devices", "desired", "observed"] as const)
    for (const u of s.unreadable[kind]) {
      const id = (u as { device?: { id?: unknown } | unknown } | null)?.device;
      const deviceId = typeof id === "string" ? id : typeof id === "object" && id !== null && typeof (id as { id?: unknown }).id === "string" ? (id as { id: string }).id : "?";
      // Not seven columns: stays unreadable, attributed to its device when the id is valid ("?" never is).
      unreadable.push(`${deviceId}\tversion-1 ${kind} record that could not be read: ${JSON.stringify(u)}`);
    }
  return { lineage: s.lineage, serial: s.serial, revision: s.revision, reality: s.reality, specs: [], unreadable, recordedDamage: new Map(s.recordedDamage) };
};

const recovery = async (stateDir: string, store: SpecStore, path: string, reason: string): Promise<StateCorruptError> => {
  const backup = join(stateDir, BACKUP_FILE);
  let found: BackupFound;
  try {
    const b = await readRecords(backup, store);
    found = b === undefined ? { _tag: "Missing" } : b._tag === "Ok" ? { _tag: "Usable", serial: b.state.serial } : { _tag: "Unusable" };
  } catch {
    found = { _tag: "Unusable" };
  }
  return new StateCorruptError(`${path}: ${reason}. ${recoveryAdvice(path, backup, found)}`);
};

export const loadState = async (stateDir: string, store: SpecStore): Promise<Loaded> => {
  const path = join(stateDir, STATE_FILE);
  const d = await readRecords(path, store);
  if (d !== undefined) {
    if (d._tag === "Ok") return { state: d.state, problems: d.problems, from: "records" };
    throw await recovery(stateDir, store, path, d.reason);
  }
  const legacyPath = join(stateDir, LEGACY_STATE_FILE);
  let text: string;
  try {
    text = await readFile(legacyPath, "utf8");
  } catch (e) {
    if (isMissing(e)) return { state: emptyState(), problems: [], from: "none" };
    if ((e as NodeJS.ErrnoException).code === "ERR_STRING_TOO_LONG")
      throw new StateCorruptError(`${legacyPath}: a version-1 state too large to read (more than V8's largest string); migrate it with a fleet version that wrote it, or move it away to start from an empty state`);
    throw e;
  }
  const legacy = decodeLegacyState(text, legacyPath);
  if (legacy._tag === "Corrupt")
    throw new StateCorruptError(`${legacyPath}: ${legacy.reason}. It is a version-1 state file that cannot be migrated; nothing was changed. Restore \`${legacyPath}.backup\` over it, or move it away to start from an empty state`);
  return { state: fromLegacy(legacy.state), problems: legacy.problems, from: "legacy" };
};

/** Serial and lineage from the header alone (`fleet local info`), without reading a million lines. */
export const readHeader = async (stateDir: string, store: SpecStore): Promise<{ readonly serial: number; readonly lineage: string }> => {
  const path = join(stateDir, STATE_FILE);
  let first = "";
  try {
    const fh = await open(path, "r");
    try {
      const buf = Buffer.alloc(1 << 16);
      let at = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, at);
        const text = buf.subarray(0, bytesRead).toString("utf8");
        const nl = text.indexOf("\n");
        first += nl === -1 ? text : text.slice(0, nl);
        if (nl !== -1 || bytesRead === 0) break;
        at += bytesRead;
      }
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (!isMissing(e)) throw e;
    const { state } = await loadState(stateDir, store);
    return { serial: state.serial, lineage: state.lineage };
  }
  const h = decodeHeader(first);
  if ("_tag" in h) throw await recovery(stateDir, store, path, h.reason);
  return { serial: h.serial, lineage: h.lineage };
};

// -------------------------------------------------------------------------------------
// writing
// -------------------------------------------------------------------------------------

const TEMP = /^\.state\.records(\.backup)?\.[0-9]+\.[0-9a-f]{8}\.tmp$/;

/** Hooks for the crash and full-disk tests. */
export interface WriteHooks {
  /** Runs between the temporary write and the rename. */
  readonly beforeRename?: (tempPath: string) => Promise<void> | void;
  /** Runs before each chunk is written to the temporary file; may throw (a full disk). */
  readonly beforeChunk?: (tempPath: string, bytesSoFar: number) => Promise<void> | void;
}

const CHUNK = 1 << 20;

const tempName = (name: string): string => `.${name}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;

/** The specs a state's entries carry, one per hash, for the spec store. */
const carriedSpecs = (s: LocalState): Map<string, Deployment> => {
  const out = new Map<string, Deployment>();
  const seen = new Set<Pattern>();
  for (const m of s.reality.desired.values()) {
    // Packed devices share patterns: each pattern's slots once, no entry made.
    if (m instanceof PackedEntries) {
      if (seen.has(m.pattern)) continue;
      seen.add(m.pattern);
      for (const slot of m.pattern.slots) if (slot.spec !== undefined && !out.has(slot.hash)) out.set(slot.hash, slot.spec);
    } else for (const e of m.values()) if (e.spec !== undefined && !out.has(e.specHash)) out.set(e.specHash, e.spec);
  }
  return out;
};

/**
 * Writes `next` (whose serial the caller has already advanced) and keeps the
 * state it replaces as the backup. Call only while holding the lock.
 */
export const saveState = async (stateDir: string, next: LocalState, store: SpecStore, hooks: WriteHooks = {}): Promise<void> => {
  await mkdir(stateDir, { recursive: true });
  // Temporary files of writers that crashed: the lock guarantees no live writer owns one.
  for (const f of await readdir(stateDir)) if (TEMP.test(f)) await unlink(join(stateDir, f)).catch(() => undefined);
  await store.store(carriedSpecs(next));

  const path = join(stateDir, STATE_FILE);
  const tmp = join(stateDir, tempName(STATE_FILE));
  const backupTmp = join(stateDir, tempName(BACKUP_FILE));
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      // Lines are encoded straight into one reused buffer: no megabyte strings to build, measure and
      // encode again (fresh memory each, slow to touch here), and a short write is carried on, not lost.
      const out = Buffer.allocUnsafe(CHUNK);
      let used = 0;
      let bytes = 0;
      const writeAll = async (data: Buffer, length: number): Promise<void> => {
        await hooks.beforeChunk?.(tmp, bytes);
        for (let at = 0; at < length; ) at += (await fh.write(data, at, length - at)).bytesWritten;
        bytes += length;
      };
      for (const line of encodeLines(next, specTable(next))) {
        // A UTF-16 code unit is at most 3 bytes of UTF-8.
        const most = 3 * line.length + 1;
        if (used + most > CHUNK && used > 0) {
          await writeAll(out, used);
          used = 0;
        }
        if (most > CHUNK) {
          const long = Buffer.from(`${line}\n`);
          await writeAll(long, long.length);
          continue;
        }
        used += out.write(line, used);
        out[used++] = 10;
      }
      if (used > 0) await writeAll(out, used);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // The state being replaced becomes the backup: a hard link, renamed into place atomically.
    const hasPrevious = await stat(path).then(
      () => true,
      (e: unknown) => (isMissing(e) ? false : Promise.reject(e)),
    );
    if (hasPrevious) {
      await link(path, backupTmp);
      await rename(backupTmp, join(stateDir, BACKUP_FILE));
      // rename(2) between two links to one file (the backup already is this state, after a crash) does nothing.
      await unlink(backupTmp).catch(() => undefined);
    }
    await hooks.beforeRename?.(tmp);
    await rename(tmp, path);
    await syncDir(stateDir);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    await unlink(backupTmp).catch(() => undefined);
    throw e;
  }
  // A migrated version-1 state is kept under another name; the new file is already the state.
  await rename(join(stateDir, LEGACY_STATE_FILE), join(stateDir, MIGRATED_FILE)).then(
    () => syncDir(stateDir),
    (e: unknown) => (isMissing(e) ? undefined : Promise.reject(new Error(`migrated the state, but could not rename ${LEGACY_STATE_FILE}: ${errorMessage(e)}`))),
  );
};
