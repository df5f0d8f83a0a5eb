/**
 * The text of the local backend's state file, versions 2 and 3 (pure: no I/O).
 *
 * One line per device, so that a file of a million devices is read and
 * written as a stream (the version-1 single JSON document stopped being
 * readable past about 110k devices) and one bad line costs one device:
 *
 * ```
 * {"format":"fleet-local-state","version":2,"lineage":…,"serial":…,"revision":…,"specs":["sha256:…",…]}
 * <device id> TAB <device JSON without id | ""> TAB <last heartbeat ISO | ""> TAB <desired | ""> TAB <fingerprints | ""> TAB <observed | ""> TAB <damage JSON string | "">
 * …
 * {"end":"fleet-local-state","devices":<number of device lines>}
 * ```
 *
 * Version 3 adds what staged rollouts keep, and is written only by a state
 * that has some (so a state without rollouts stays readable by a fleet that
 * reads version 2, and one with rollouts is refused by it rather than
 * written back without its ledgers):
 * - `rollouts` in the header: the rollout ledger records (diff/Ledger.ts,
 *   `RolloutRecordCodec`); one that cannot be read makes the whole file
 *   unusable, since a rollout without its ledger would start over;
 * - an eighth column on a device line whose entries carry a prior spec hash:
 *   `{"<deployment>": "<hash>" | null, …}`.
 *
 * - specs are content-addressed: `specs` in the header lists spec hashes in
 *   the order this lineage first stored them (append-only, so the index a
 *   line uses never changes meaning, even for a line kept verbatim), and the
 *   spec itself lives once per hash in the spec store (`SpecStore.ts`);
 * - desired entries are split in two columns: `deployment:specIndex,…` in
 *   deployment-name order, which repeats across devices and is decoded once
 *   per distinct text, and their fingerprints, space-separated (a JSON array
 *   of strings when one of them is not a plain token); decoding the desired
 *   column as JSON per device was the largest cost of reading a million;
 * - JSON never contains a raw TAB and ids are DNS labels, so TAB splits
 *   columns unambiguously;
 * - the trailer's count catches a truncated file (a copy cut short), which a
 *   line format would otherwise read as a smaller fleet;
 * - lines are written ordered by device id (`OrdDeviceId`), entries by
 *   deployment name, so the file is deterministic and diffs well.
 *
 * Laws (test/cli/state-store.test.ts): `decode(encode(s))` gives `s` back
 * (specs resolved by hash); a line that cannot be read is a problem naming its
 * device (which becomes damaged) and is written back byte for byte; a second
 * line for one device is such a problem too, never silently collapsed.
 */
import * as RA from "fp-ts/lib/ReadonlyArray.js";
import * as S from "fp-ts/lib/string.js";
import { DeviceCodec, type Device } from "../../algebra/Device.ts";
import { increasing, mapOfColumns } from "../../algebra/SortedMap.ts";
import type { Deployment } from "../../algebra/Deployment.ts";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { DeploymentName, DeviceId, OrdDeploymentName, OrdDeviceId } from "../../algebra/Name.ts";
import { RolloutRecordCodec, encodeRecord, keyOf, type RolloutKey, type RolloutRecord } from "../../diff/Ledger.ts";
import { ObservedStateCodec, type DesiredEntry, type ObservedState, type Reality, type ReportedDevice } from "../../diff/Reality.ts";
import type { ReadProblem } from "../Interpreter.ts";
import { fingerprintSuffix, PackedEntries, pattern as patternFrom, type Pattern, type Slot } from "./PackedEntries.ts";

export const STATE_FORMAT = "fleet-local-state";
/** The newest version this fleet reads and writes (it writes 2 when the state has no rollout data). */
export const STATE_VERSION = 3;
const PLAIN_VERSION = 2;

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface LocalState {
  /** Identifies one history of states; a new state directory starts a new lineage. */
  readonly lineage: string;
  /** Number of writes so far (0: no state file yet). */
  readonly serial: number;
  /** Last desired-entry revision handed out. */
  readonly revision: number;
  readonly reality: Reality;
  /** Spec hashes in the order this lineage first stored them; lines refer to specs by index here. */
  readonly specs: ReadonlyArray<string>;
  /** Device lines kept exactly as found because they could not be read (written back verbatim). */
  readonly unreadable: ReadonlyArray<string>;
  /** Damage recorded in the file itself (not found while reading it). */
  readonly recordedDamage: ReadonlyMap<DeviceId, string>;
}

/** Why a whole file is unusable (a bad line is a problem instead). */
export interface Corrupt {
  readonly _tag: "Corrupt";
  readonly reason: string;
}

export interface Decoded {
  readonly _tag: "Ok";
  readonly state: LocalState;
  readonly problems: ReadonlyArray<ReadProblem>;
}

/** The spec stored under a hash, or `undefined` (missing or untrusted: the store reports why). */
/** The spec stored under a hash; `"untrusted"` when its file is there but does not hash to its name (or is not a spec). */
export type SpecLookup = (hash: string) => Deployment | "untrusted" | undefined;

// -------------------------------------------------------------------------------------
// decoding
// -------------------------------------------------------------------------------------

interface Header {
  readonly lineage: string;
  readonly serial: number;
  readonly revision: number;
  readonly specs: ReadonlyArray<string>;
  readonly rollouts?: ReadonlyMap<RolloutKey, RolloutRecord>;
}

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string } => {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, reason: errorMessage(e) };
  }
};

/** The header line, or why the file is not a version-2 or -3 state. */
export const decodeHeader = (line: string): Header | Corrupt => {
  const j = parseJson(line);
  if (!j.ok) return { _tag: "Corrupt", reason: `the first line is not a state header (${j.reason})` };
  const h = j.value as Record<string, unknown> | null;
  if (typeof h !== "object" || h === null || h["format"] !== STATE_FORMAT) return { _tag: "Corrupt", reason: "the first line is not a fleet local state header" };
  if (typeof h["version"] === "number" && h["version"] > STATE_VERSION)
    return { _tag: "Corrupt", reason: `written by a newer fleet (state format version ${h["version"]}, this fleet reads up to ${STATE_VERSION}); upgrade fleet` };
  if (h["version"] !== STATE_VERSION && h["version"] !== PLAIN_VERSION)
    return { _tag: "Corrupt", reason: `state format version ${JSON.stringify(h["version"])} in a version-${PLAIN_VERSION}/${STATE_VERSION} file name` };
  const specs = h["specs"];
  if (typeof h["lineage"] !== "string" || !isCount(h["serial"]) || !isCount(h["revision"]) || !Array.isArray(specs) || !specs.every((s) => typeof s === "string"))
    return { _tag: "Corrupt", reason: "the state header lacks lineage, serial, revision or specs" };
  const header = { lineage: h["lineage"], serial: h["serial"], revision: h["revision"], specs: specs as string[] };
  if (h["rollouts"] === undefined) return header;
  const rollouts = decodeRollouts(h["rollouts"]);
  return typeof rollouts === "string" ? { _tag: "Corrupt", reason: rollouts } : { ...header, rollouts };
};

/** The header's rollout ledgers by key, or why they cannot be read. */
const decodeRollouts = (u: unknown): ReadonlyMap<RolloutKey, RolloutRecord> | string => {
  if (!Array.isArray(u)) return "the state header's rollouts: expected an array of rollout records";
  const out = new Map<RolloutKey, RolloutRecord>();
  for (const [i, raw] of u.entries()) {
    const r = RolloutRecordCodec.decode(raw);
    if (r._tag === "Left") return `the state header's rollouts[${i}]: ${formatValidationErrors(r.left)}`;
    const key = keyOf(r.right);
    if (out.has(key)) return `the state header's rollouts: two records for ${key}`;
    out.set(key, r.right);
  }
  return out;
};

/** The eighth column: prior spec hashes by deployment, or why it cannot be read. */
const decodePriors = (text: string): ReadonlyMap<string, string | null> | string => {
  const j = parseJson(text);
  if (!j.ok) return `priors: ${j.reason}`;
  if (typeof j.value !== "object" || j.value === null || Array.isArray(j.value)) return "priors: expected an object of deployment: spec hash | null";
  const out = new Map<string, string | null>();
  for (const [k, v] of Object.entries(j.value as Record<string, unknown>)) {
    if (v !== null && typeof v !== "string") return `priors ${k}: expected a spec hash or null`;
    out.set(k, v);
  }
  return out;
};

const TRAILER_PREFIX = `{"end":"${STATE_FORMAT}"`;

/**
 * A copy of `s` that keeps no larger string alive: a slice of 13 characters
 * or more is a view of the string it was cut from, and a million retained
 * ids cut from the file's chunks would keep the whole file's text.
 */
const own = (s: string): string => (s.length < 13 ? s : (" " + s).slice(1));

/**
 * Reads device lines one at a time (so a caller can stream a file) and
 * builds the state. Shares what repeats across a million devices: decoded
 * device attributes by their JSON text, deployment names, specs by hash.
 *
 * What a million devices retain is what a read costs (the garbage collector
 * copies every object that survives, and fresh memory is slow to touch on
 * these machines): a line is decoded in place in the text it arrives in
 * (`lineIn`), nothing of it is kept but its id and its device, and the
 * fingerprints the local backend writes (`r<revision>.<lineage prefix>`) are
 * kept as numbers in one column.
 */
export const stateDecoder = (header: Header, source: string, specAt: SpecLookup, expectedLines = 0) => {
  // Columns: one slot per line read without a problem, in line order (`count` of them). Lines come in
  // id order, and then the maps are SortedMaps over these arrays (no hash table of a million ids, no
  // object per device until one is asked for); a file out of order gets Maps (`mapOfColumns`). Sized
  // up front from `expectedLines` (the reader's estimate): a million pushes into arrays that grow by
  // copying allocate three times their final size, and fresh memory is slow to touch on these machines.
  let count = 0;
  const lineIds: DeviceId[] = new Array(expectedLines);
  const lineDevices: Array<Device | undefined> = new Array(expectedLines);
  const lineHeartbeats: Array<Date | undefined> = new Array(expectedLines);
  const linePatterns: Array<Pattern | undefined> = new Array(expectedLines);
  // A line's fingerprints: where its revisions start in `revisions`, or, when they are not all of the
  // local form, the column's text or its decoded JSON array.
  const linePrints: Array<number | string | ReadonlyArray<string> | undefined> = new Array(expectedLines);
  let withDevice = 0;
  let withDesired = 0;
  // Revisions of the local form, `revisionCount` of them; sized at the first line that has some, for as
  // many lines as expected with as many entries as it has.
  let revisions: number[] = [];
  let revisionCount = 0;
  const suffix = fingerprintSuffix(header.lineage);
  // Priors are rare (entries a staged rollout wrote): by their line's index.
  const priorsOf = new Map<number, ReadonlyMap<string, string | null>>();
  const observed = new Map<DeviceId, Map<DeploymentName, ObservedState>>();
  const damaged = new Map<DeviceId, string>();
  const recordedDamage = new Map<DeviceId, string>();
  const unreadable: string[] = [];
  const problems: ReadProblem[] = [];
  // Device attributes repeat across a fleet: decode each distinct text once and share the result.
  const shapes = new Map<string, Omit<Device, "id"> | string>();
  const names = new Map<string, DeploymentName>();
  const specByIndex = new Map<number, { readonly hash: string; readonly spec: Deployment | undefined; readonly untrusted: boolean }>();
  let lines = 0;
  let trailer: number | undefined;
  let afterEnd = false;
  let lastHeartbeatText: string | undefined;
  let lastHeartbeat: Date | undefined;
  // Lines are written in id order: while they come strictly increasing, an id cannot have been seen
  // (no Set of a million ids); the first one out of order builds the set from the ids so far (the
  // lines read, and those that failed after this check).
  let lastId: DeviceId | undefined;
  const failedIds: DeviceId[] = [];
  let seen: Set<string> | undefined;
  const seenBefore = (id: DeviceId): boolean => {
    if (seen === undefined) {
      if (lastId === undefined || lastId < id) {
        lastId = id;
        return false;
      }
      seen = new Set(failedIds);
      for (let i = 0; i < count; i++) seen.add(lineIds[i] as DeviceId);
    }
    if (seen.has(id)) return true;
    seen.add(id);
    return false;
  };

  // The line being decoded: column i is text[from[i], to[i]) (reused for every line).
  let text = "";
  const from = [0, 0, 0, 0, 0, 0, 0, 0];
  const to = [0, 0, 0, 0, 0, 0, 0, 0];
  const col = (i: number): string => text.slice(from[i] as number, to[i] as number);
  const isEmpty = (i: number): boolean => from[i] === to[i];
  /** Finds the columns of text[start, end); how many there are (up to 9: more is one too many). */
  const columns = (start: number, end: number): number => {
    let at = start;
    for (let i = 0; i < 8; i++) {
      const tab = text.indexOf("\t", at);
      from[i] = at;
      if (tab === -1 || tab >= end) {
        to[i] = end;
        return i + 1;
      }
      to[i] = tab;
      at = tab + 1;
    }
    return 9;
  };

  const shapeOf = (key: string): Omit<Device, "id"> | string => {
    let s = shapes.get(key);
    if (s === undefined) {
      const j = parseJson(key);
      if (!j.ok) s = `device: ${j.reason}`;
      else if (typeof j.value !== "object" || j.value === null || Array.isArray(j.value)) s = "device: expected an object";
      else {
        // Any valid id lets the one device codec check the rest; the real id is set per line.
        const r = DeviceCodec.decode({ ...(j.value as object), id: "x" });
        if (r._tag === "Left") s = `device: ${formatValidationErrors(r.left)}`;
        else {
          const { id: _id, ...rest } = r.right;
          s = Object.freeze(rest);
        }
      }
      shapes.set(own(key), s);
    }
    return s;
  };

  const nameOf = (u: unknown): DeploymentName | undefined => {
    if (typeof u !== "string") return undefined;
    let n = names.get(u);
    if (n === undefined) {
      if (!DeploymentName.is(u)) return undefined;
      names.set(u, (n = own(u) as DeploymentName));
    }
    return n;
  };

  const specFor = (i: unknown): { readonly hash: string; readonly spec: Deployment | undefined; readonly untrusted: boolean } | undefined => {
    if (typeof i !== "number") return undefined;
    let s = specByIndex.get(i);
    if (s === undefined) {
      const hash = header.specs[i];
      if (hash === undefined) return undefined;
      const found = specAt(hash);
      specByIndex.set(i, (s = found === "untrusted" ? { hash, spec: undefined, untrusted: true } : { hash, spec: found, untrusted: false }));
    }
    return s;
  };

  /** A desired column (`name:index,…`), decoded once per distinct text; a string is why it cannot be read. */
  const patterns = new Map<string, Pattern | string>();
  const patternOf = (key: string): Pattern | string => {
    let p = patterns.get(key);
    if (p === undefined) {
      const slots: Slot[] = [];
      const names = new Set<string>();
      for (const part of key.split(",")) {
        const colon = part.lastIndexOf(":");
        const name = nameOf(colon === -1 ? part : part.slice(0, colon));
        const index = colon === -1 ? NaN : Number(part.slice(colon + 1));
        if (name === undefined) {
          p = `desired: ${JSON.stringify(part)} is not deployment:specIndex`;
          break;
        }
        const spec = Number.isSafeInteger(index) ? specFor(index) : undefined;
        if (spec === undefined) {
          p = `desired ${name}: spec index ${JSON.stringify(part.slice(colon + 1))} is not in the header's specs`;
          break;
        }
        if (names.has(name)) {
          p = `desired ${name}: two entries for one deployment`;
          break;
        }
        names.add(name);
        slots.push({ name, hash: spec.hash, index, spec: spec.spec, untrusted: spec.untrusted });
      }
      const owned = own(key);
      patterns.set(owned, (p ??= patternFrom(owned, slots)));
    }
    return p;
  };

  /**
   * Reads text[start, end) as `want` fingerprints of the local form, appending their revisions to
   * `revisions`; false (and nothing appended) when one is not exactly `r<revision>.<suffix>`.
   */
  const readRevisions = (start: number, end: number, want: number): boolean => {
    const mark = revisionCount;
    if (mark === 0 && revisions.length === 0 && expectedLines > 0) revisions = new Array(expectedLines * want);
    let at = start;
    for (let k = 0; k < want; k++) {
      if (at >= end || text.charCodeAt(at) !== 114 /* r */) break;
      at++;
      // Digits without a leading zero (so that writing the number gives the token back), at most 15 (exact as a number).
      const first = at;
      let n = 0;
      for (let c = text.charCodeAt(at); c >= 48 && c <= 57 && at < end; c = text.charCodeAt(++at)) n = n * 10 + (c - 48);
      const digits = at - first;
      if (digits === 0 || digits > 15 || (digits > 1 && text.charCodeAt(first) === 48)) break;
      if (text.charCodeAt(at) !== 46 /* . */ || !text.startsWith(suffix, at + 1)) break;
      at += 1 + suffix.length;
      if (at > end) break;
      revisions[revisionCount++] = n;
      if (k === want - 1) {
        if (at === end) return true;
        break;
      }
      if (text.charCodeAt(at) !== 32 /* space */) break;
      at++;
    }
    revisionCount = mark;
    return false;
  };

  /** Checks a fingerprints column of space-separated tokens; a string is why it cannot be read. */
  const checkTokens = (fps: string, pattern: Pattern): string | undefined => {
    let count = fps === "" ? 0 : 1;
    let empty = fps === "" || fps.charCodeAt(0) === 32 ? 0 : -1;
    for (let at = fps.indexOf(" "); at !== -1; at = fps.indexOf(" ", at + 1)) {
      if (empty === -1 && (at + 1 === fps.length || fps.charCodeAt(at + 1) === 32)) empty = count;
      count++;
    }
    if (count !== pattern.slots.length) return `fingerprints: ${count} for ${pattern.slots.length} desired entries`;
    if (empty !== -1) return `desired ${(pattern.slots[empty] as Slot).name}: fingerprint: expected a non-empty string`;
    return undefined;
  };

  /** Decodes the columns of the line found by `columns`; a string is why it cannot be read. */
  const decodeLine = (id: DeviceId, columnCount: number): string | undefined => {
    const priors = columnCount === 8 && !isEmpty(7) ? decodePriors(col(7)) : undefined;
    if (typeof priors === "string") return priors;
    let device: Device | undefined;
    let heartbeat: Date | undefined;
    if (!isEmpty(1)) {
      const shape = shapeOf(col(1));
      if (typeof shape === "string") return shape;
      // The common shape (labels and arch) as a literal: a spread per device costs more than the rest of the line.
      device = Object.freeze(
        shape.inventory === undefined && shape.agentVersion === undefined ? { id, labels: shape.labels, arch: shape.arch } : { id, ...shape },
      ) as Device;
      if (!isEmpty(2)) {
        // Devices registered together share a heartbeat text: parse each run of one text once (Dates are never mutated here).
        const same = lastHeartbeatText !== undefined && (to[2] as number) - (from[2] as number) === lastHeartbeatText.length && text.startsWith(lastHeartbeatText, from[2]);
        if (!same) {
          const hb = col(2);
          const at = new Date(hb);
          if (Number.isNaN(at.getTime())) return `lastHeartbeat: invalid date ${JSON.stringify(hb)}`;
          lastHeartbeatText = own(hb);
          lastHeartbeat = at;
        }
        heartbeat = lastHeartbeat;
      }
    } else if (!isEmpty(2)) return "lastHeartbeat without a device";
    let pattern: Pattern | undefined;
    let prints: number | string | ReadonlyArray<string> = 0;
    if (!isEmpty(3)) {
      const p = patternOf(col(3));
      if (typeof p === "string") return p;
      pattern = p;
      const n = p.slots.length;
      if (readRevisions(from[4] as number, to[4] as number, n)) prints = revisionCount - n;
      else if (text.charCodeAt(from[4] as number) === 91 /* [ */ && !isEmpty(4)) {
        const j = parseJson(col(4));
        if (!j.ok || !Array.isArray(j.value)) return "fingerprints: expected a JSON array or space-separated tokens";
        const list = j.value as unknown[];
        if (list.length !== n) return `fingerprints: ${list.length} for ${n} desired entries`;
        const bad = list.findIndex((f) => typeof f !== "string" || f === "");
        if (bad !== -1) return `desired ${(p.slots[bad] as Slot).name}: fingerprint: expected a non-empty string`;
        prints = list as string[];
      } else {
        // Space-separated tokens of another form, kept as the column's text (entries are made from it
        // when asked for); checked here, so that a bad line is found while reading, with its device.
        const fps = own(col(4));
        const why = checkTokens(fps, p);
        if (why !== undefined) return why;
        prints = fps;
      }
      for (const k of priors?.keys() ?? []) if (!p.position.has(k as DeploymentName)) return `priors ${k}: no desired entry for it`;
    } else if (!isEmpty(4)) return "fingerprints without desired entries";
    else if (priors !== undefined) return "priors without desired entries";
    let states: Map<DeploymentName, ObservedState> | undefined;
    if (!isEmpty(5)) {
      const j = parseJson(col(5));
      if (!j.ok) return `observed: ${j.reason}`;
      if (!Array.isArray(j.value)) return "observed: expected an array";
      states = new Map();
      for (const o of j.value as unknown[]) {
        const r = ObservedStateCodec.decode(typeof o === "object" && o !== null ? { ...o, device: id } : o);
        if (r._tag === "Left") return `observed: ${formatValidationErrors(r.left)}`;
        if (states.has(r.right.deployment)) return `observed ${r.right.deployment}: two reports for one deployment`;
        states.set(r.right.deployment, r.right);
      }
    }
    let damage: string | undefined;
    if (!isEmpty(6)) {
      const j = parseJson(col(6));
      if (!j.ok || typeof j.value !== "string") return "damage: expected a JSON string";
      damage = j.value;
    }
    lineIds[count] = id;
    lineDevices[count] = device;
    lineHeartbeats[count] = heartbeat;
    linePatterns[count] = pattern;
    linePrints[count] = pattern === undefined ? undefined : prints;
    if (device !== undefined) withDevice++;
    if (pattern !== undefined) {
      withDesired++;
      if (priors !== undefined) priorsOf.set(count, priors);
    }
    count++;
    if (states !== undefined && states.size > 0) observed.set(id, states);
    if (damage !== undefined) {
      recordedDamage.set(id, damage);
      if (!damaged.has(id)) damaged.set(id, damage);
    }
    return undefined;
  };

  const bad = (key: string, id: DeviceId | undefined, line: string, message: string): void => {
    problems.push({ source, key, message });
    unreadable.push(own(line));
    // Unreadable is not evidence of absence: the device is left alone. What was read of it (a first
    // line, when this is a second) stays in the state, so that it is written back too.
    if (id !== undefined && !damaged.has(id)) damaged.set(id, message);
  };

  /** One line of the file after the header: text[start, end) (without its newline). */
  const lineIn = (lineText: string, start: number, end: number): void => {
    if (trailer !== undefined) {
      // Not a line of this state (two files run together?): the whole file is suspect.
      if (end > start) afterEnd = true;
      return;
    }
    text = lineText;
    if (text.startsWith(TRAILER_PREFIX, start)) {
      const j = parseJson(text.slice(start, end));
      const n = j.ok ? (j.value as { devices?: unknown }).devices : undefined;
      trailer = isCount(n) ? n : -1;
      return;
    }
    lines++;
    const found = columns(start, end);
    const raw = col(0);
    const id = DeviceId.is(raw) ? (own(raw) as DeviceId) : undefined;
    const line = (): string => text.slice(start, end);
    if (id === undefined) return bad(`line ${lines + 1}`, undefined, line(), `${JSON.stringify(raw.slice(0, 80))} is not a device id`);
    if (found !== 7 && found !== 8) return bad(id, id, line(), `expected 7 or 8 tab-separated columns, found ${found === 9 ? text.slice(start, end).split("\t").length : found}`);
    if (seenBefore(id)) return bad(id, id, line(), `a second record for device ${id} (line ${lines + 1}); both are kept as they are`);
    const mark = revisionCount;
    const why = decodeLine(id, found);
    if (why !== undefined) {
      // A line that fails after its revisions were read keeps none of them.
      revisionCount = mark;
      failedIds.push(id);
      bad(id, id, line(), why);
    }
  };

  return {
    /** One line of the file after the header (without its newline). */
    line: (line: string): void => lineIn(line, 0, line.length),
    /** One line of the file after the header, text[start, end) (without its newline): decoded where it is. */
    lineIn,
    /** The state, or why the file as a whole is unusable. */
    end: (): Decoded | Corrupt => {
      for (const column of [lineIds, lineDevices, lineHeartbeats, linePatterns, linePrints]) column.length = count;
      revisions.length = revisionCount;
      /** The map of the lines that have something (`has`), by id: every line's slot when all have it (the common case). */
      const linesWith = <V>(n: number, has: (i: number) => boolean, valueAt: (line: number) => V): ReadonlyMap<DeviceId, V> => {
        if (n === count) return mapOfColumns(lineIds, valueAt);
        const keys: DeviceId[] = [];
        const at: number[] = [];
        for (let i = 0; i < count; i++)
          if (has(i)) {
            keys.push(lineIds[i] as DeviceId);
            at.push(i);
          }
        return mapOfColumns(keys, (k) => valueAt(at[k] as number));
      };
      if (trailer === undefined) return { _tag: "Corrupt", reason: `the file ends after ${lines} device lines without its end line (truncated)` };
      if (afterEnd) return { _tag: "Corrupt", reason: "text follows the end line" };
      if (trailer !== lines) return { _tag: "Corrupt", reason: `the end line counts ${trailer} device lines, the file has ${lines} (truncated or edited)` };
      return {
        _tag: "Ok",
        state: {
          lineage: header.lineage,
          serial: header.serial,
          revision: header.revision,
          reality: {
            devices: linesWith(withDevice, (i) => lineDevices[i] !== undefined, (i): ReportedDevice => {
              const device = lineDevices[i] as Device;
              const lastHeartbeat = lineHeartbeats[i];
              return lastHeartbeat === undefined ? { device } : { device, lastHeartbeat };
            }),
            // A spec file that does not hash to its name (edited behind the control plane's back) is not trusted:
            // its entries are marked tampered (PackedEntries), so that the plan republishes them, which stores the spec again.
            desired: linesWith(withDesired, (i) => linePatterns[i] !== undefined, (i) => {
              const prints = linePrints[i] as number | string | ReadonlyArray<string>;
              return new PackedEntries(lineIds[i] as DeviceId, linePatterns[i] as Pattern, typeof prints === "number" ? { column: revisions, from: prints, suffix } : prints, priorsOf.get(i));
            }),
            observed,
            damaged,
            ...(header.rollouts !== undefined ? { rollouts: header.rollouts } : {}),
          },
          specs: header.specs,
          unreadable,
          recordedDamage,
        },
        problems,
      };
    },
  };
};

/** Decodes a whole state file's text (tests, small files); `loadState` streams instead. */
export const decodeState = (text: string, source = "state", specAt: SpecLookup = () => undefined): Decoded | Corrupt => {
  const nl = text.indexOf("\n");
  const header = decodeHeader(nl === -1 ? text : text.slice(0, nl));
  if ("_tag" in header) return header;
  const d = stateDecoder(header, source, specAt);
  if (nl !== -1) {
    const lines = text.slice(nl + 1).split("\n");
    // A final newline ends the last line; it does not start another.
    if (lines[lines.length - 1] === "") lines.pop();
    for (const l of lines) d.line(l);
  }
  return d.end();
};

// -------------------------------------------------------------------------------------
// encoding
// -------------------------------------------------------------------------------------

/** The spec table `s` needs: its own, plus each new hash in device then deployment order. */
export const specTable = (s: LocalState): ReadonlyArray<string> => {
  const index = new Map(s.specs.map((h, i) => [h, i]));
  const out = [...s.specs];
  for (const id of deviceIds(s))
    for (const hash of specHashesOf(s.reality.desired.get(id)))
      if (!index.has(hash)) {
        index.set(hash, out.length);
        out.push(hash);
      }
  return out;
};

/** A device's entries' spec hashes in entry order (a packed device's from its shared pattern, making no entry). */
const specHashesOf = (m: ReadonlyMap<DeploymentName, DesiredEntry> | undefined): ReadonlyArray<string> =>
  m === undefined ? [] : m instanceof PackedEntries ? m.pattern.hashes : [...m.values()].map((e) => e.specHash);

const deviceIdsCache = new WeakMap<LocalState, ReadonlyArray<DeviceId>>();

/** The keys of `m` when they come in strictly increasing order (as a state read from a file has them), else undefined. */
const increasingKeys = (m: ReadonlyMap<DeviceId, unknown>): DeviceId[] | undefined => {
  const keys = [...m.keys()];
  return increasing(keys) ? keys : undefined;
};

/** Merges lists that are each strictly increasing into one, without repeats. */
const mergeIncreasing = (lists: ReadonlyArray<ReadonlyArray<DeviceId>>): DeviceId[] => {
  let out: DeviceId[] = [];
  for (const list of lists) {
    if (list.length === 0) continue;
    if (out.length === 0) {
      out = [...list];
      continue;
    }
    const merged: DeviceId[] = [];
    let i = 0;
    let j = 0;
    while (i < out.length && j < list.length) {
      const a = out[i] as DeviceId;
      const b = list[j] as DeviceId;
      if (a === b) {
        merged.push(a);
        i++;
        j++;
      } else if (a < b) {
        merged.push(a);
        i++;
      } else {
        merged.push(b);
        j++;
      }
    }
    while (i < out.length) merged.push(out[i++] as DeviceId);
    while (j < list.length) merged.push(list[j++] as DeviceId);
    out = merged;
  }
  return out;
};

/** Every device the state says anything about, ordered by `OrdDeviceId`. */
export const deviceIds = (s: LocalState): ReadonlyArray<DeviceId> => {
  let ids = deviceIdsCache.get(s);
  if (ids === undefined) {
    const sources: ReadonlyArray<ReadonlyMap<DeviceId, unknown>> = [s.reality.devices, s.reality.desired, s.reality.observed, s.recordedDamage];
    // Maps read from a file (and edited in place by an apply that only updates) keep their keys in id
    // order: merged in one pass, instead of a Set and a sort of a million ids.
    const lists = sources.map(increasingKeys);
    if (lists.every((l) => l !== undefined)) ids = mergeIncreasing(lists as DeviceId[][]);
    else {
      const all = new Set<DeviceId>();
      for (const m of sources) for (const k of m.keys()) all.add(k);
      ids = RA.sort(OrdDeviceId)([...all]);
    }
    deviceIdsCache.set(s, ids);
  }
  return ids;
};

/** A fingerprint written bare, space-separated from the next (local ones always are: `r<revision>.<lineage>`). */
const TOKEN = "[A-Za-z0-9._:/+=-]+";
const FINGERPRINT_TOKEN = new RegExp(`^${TOKEN}$`);
/** A whole fingerprints column of such tokens, one space between. */
const PRINTS = new RegExp(`^${TOKEN}(?: ${TOKEN})*$`);

const byName = <A>(m: ReadonlyMap<DeploymentName, A> | undefined): ReadonlyArray<A> =>
  m === undefined ? [] : RA.sort(OrdDeploymentName)([...m.keys()]).map((k) => m.get(k) as A);

/**
 * The file's lines (each without its newline): header, one line per device,
 * the lines that could not be read as they were, and the end line. `specs`
 * is `specTable(s)`.
 */
export const encodeLines = function* (s: LocalState, specs: ReadonlyArray<string>): Generator<string> {
  const rollouts = s.reality.rollouts === undefined ? [] : RA.sort(S.Ord)([...s.reality.rollouts.keys()]).map((k) => encodeRecord(s.reality.rollouts?.get(k) as RolloutRecord));
  const version = rollouts.length > 0 || hasPriors(s) ? STATE_VERSION : PLAIN_VERSION;
  yield JSON.stringify({ format: STATE_FORMAT, version, lineage: s.lineage, serial: s.serial, revision: s.revision, specs, ...(rollouts.length > 0 ? { rollouts } : {}) });
  const index = new Map(specs.map((h, i) => [h, i]));
  // Device attributes repeat: encode each distinct object once.
  const shapes = new Map<Device["labels"], Map<string, string>>();
  const shapeText = (d: Device): string => {
    const { id: _id, ...rest } = DeviceCodec.encode(d) as Device;
    const text = JSON.stringify(rest);
    return text;
  };
  const cachedShape = (d: Device): string => {
    let byArch = shapes.get(d.labels);
    if (byArch === undefined) shapes.set(d.labels, (byArch = new Map()));
    // Only devices with nothing but labels and arch share a cached text (the common case).
    if (d.inventory !== undefined || d.agentVersion !== undefined) return shapeText(d);
    let t = byArch.get(d.arch);
    if (t === undefined) byArch.set(d.arch, (t = shapeText(d)));
    return t;
  };
  // Devices registered together share a heartbeat Date: format each run of one Date once.
  let lastAt: Date | undefined;
  let lastAtText = "";
  const heartbeatText = (at: Date | undefined): string => {
    if (at === undefined) return "";
    if (at !== lastAt) {
      lastAt = at;
      lastAtText = at.toISOString();
    }
    return lastAtText;
  };
  // A packed device (read from the file, not changed since) whose pattern is in name order with the
  // table's indices writes its pattern's text and its fingerprints as they were: no entry is made.
  const verbatim = new Map<Pattern, boolean>();
  const asWritten = (p: Pattern): boolean => {
    let ok = verbatim.get(p);
    if (ok === undefined) {
      // As this encoder would write it: names in order, the table's indices, no other spelling ("web:01").
      ok =
        p.slots.every((slot, i) => index.get(slot.hash) === slot.index && (i === 0 || (p.slots[i - 1] as Slot).name < slot.name)) &&
        p.slots.map((slot) => `${slot.name}:${slot.index}`).join(",") === p.text;
      verbatim.set(p, ok);
    }
    return ok;
  };
  let n = 0;
  for (const id of deviceIds(s)) {
    const r = s.reality.devices.get(id);
    const m = s.reality.desired.get(id);
    const obs = byName(s.reality.observed.get(id));
    const dmg = s.recordedDamage.get(id);
    n++;
    let desired: string;
    let prints: string | undefined;
    let priors: string | undefined;
    if (m instanceof PackedEntries && m.priors === undefined && asWritten(m.pattern) && (prints = m.printsText()) !== undefined && PRINTS.test(prints)) desired = m.pattern.text;
    else {
      const des = byName(m);
      const withPrior = des.filter((e) => e.prior !== undefined);
      desired = des.map((e) => `${e.deployment}:${index.get(e.specHash) as number}`).join(",");
      prints = des.every((e) => FINGERPRINT_TOKEN.test(e.fingerprint)) ? des.map((e) => e.fingerprint).join(" ") : JSON.stringify(des.map((e) => e.fingerprint));
      if (withPrior.length > 0) priors = JSON.stringify(Object.fromEntries(withPrior.map((e) => [e.deployment, e.prior])));
    }
    const line = `${id}\t${r === undefined ? "" : cachedShape(r.device)}\t${heartbeatText(r?.lastHeartbeat)}\t${desired}\t${prints}\t${
      obs.length === 0 ? "" : JSON.stringify(obs.map(({ device: _d, ...o }) => ({ ...o, at: o.at.toISOString() })))
    }\t${dmg === undefined ? "" : JSON.stringify(dmg)}`;
    yield priors === undefined ? line : `${line}\t${priors}`;
  }
  for (const l of s.unreadable) {
    n++;
    yield l;
  }
  yield JSON.stringify({ end: STATE_FORMAT, devices: n });
};

const hasPriors = (s: LocalState): boolean => {
  for (const m of s.reality.desired.values()) {
    if (m instanceof PackedEntries) {
      if (m.priors !== undefined) return true;
    } else for (const e of m.values()) if (e.prior !== undefined) return true;
  }
  return false;
};

/** The whole file as one string (tests, small states); `saveState` streams `encodeLines` instead. */
export const encodeState = (s: LocalState): string => {
  let out = "";
  for (const l of encodeLines(s, specTable(s))) out += `${l}\n`;
  return out;
};
