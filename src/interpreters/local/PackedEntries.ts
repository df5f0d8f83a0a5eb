/**
 * One device's desired entries as the state file holds them: a shared
 * pattern (deployment names and their specs, in name order) and the line's
 * fingerprints column, with the `DesiredEntry` objects made when asked for.
 *
 * Why: a million devices read as a `Map` each plus an object per entry are
 * about ten retained objects per device; allocating them and then copying
 * them through the young generation was most of a "No changes" plan at 1M.
 * Packed, a device is one small object and one string, and the entries a
 * diff walks are short-lived.
 *
 * It is a `ReadonlyMap` like every other backend's inner maps (the diff,
 * status and explain read it through that interface only); an entry is a
 * new object on each access, equal (not identical) to the last one.
 */
import type { Deployment } from "../../algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../algebra/Name.ts";
import type { DesiredEntry } from "../../diff/Reality.ts";

/** One entry of a pattern: a deployment and the spec its hash names. */
export interface Slot {
  readonly name: DeploymentName;
  readonly hash: string;
  /** The spec's index in the state's spec table (what the file writes). */
  readonly index: number;
  readonly spec: Deployment | undefined;
  /** The spec file is there but does not hash to its name: the entry is marked tampered. */
  readonly untrusted: boolean;
}

/** A desired column decoded once and shared by every device whose column has the same text. */
export interface Pattern {
  /** The column's text (`deployment:specIndex,…`). */
  readonly text: string;
  /** In deployment-name order. */
  readonly slots: ReadonlyArray<Slot>;
  readonly position: ReadonlyMap<DeploymentName, number>;
  /** The slots' spec hashes, in slot order. */
  readonly hashes: ReadonlyArray<string>;
}

export const pattern = (text: string, slots: ReadonlyArray<Slot>): Pattern => ({
  text,
  slots,
  position: new Map(slots.map((s, i) => [s.name, i])),
  hashes: slots.map((s) => s.hash),
});

export const UNTRUSTED_SPEC = "its spec file does not hash to its hash";

/** What ends the fingerprints of one state's entries: its lineage's first 8 characters. */
export const fingerprintSuffix = (lineage: string): string => lineage.slice(0, 8);

/** The fingerprint the local backend gives the entry it writes at `revision` (`r<revision>.<lineage prefix>`). */
export const revisionFingerprint = (suffix: string, revision: number): string => `r${revision}.${suffix}`;

/**
 * Fingerprints of the local backend's own form, `r<revision>.<suffix>`, kept
 * as numbers in a column shared by every device of a state (a number in an
 * array is no object: a million devices' fingerprints cost no string each).
 */
export interface Revisions {
  readonly column: ReadonlyArray<number>;
  /** Where this device's revisions start in `column`. */
  readonly from: number;
  readonly suffix: string;
}

/** A device's fingerprints: the column's text (space-separated), the decoded JSON array, or revisions. */
export type Prints = string | ReadonlyArray<string> | Revisions;

const isRevisions = (p: Prints): p is Revisions => typeof p === "object" && !Array.isArray(p);

/**
 * `prints` is the fingerprints column, space-separated tokens (already
 * checked: as many as slots, none empty), the decoded array when the column
 * was JSON, or revisions. `priors` are the prior spec hashes a staged rollout
 * recorded, by deployment.
 */
export class PackedEntries implements ReadonlyMap<DeploymentName, DesiredEntry> {
  constructor(
    readonly device: DeviceId,
    readonly pattern: Pattern,
    readonly prints: Prints,
    readonly priors?: ReadonlyMap<string, string | null>,
  ) {}

  get size(): number {
    return this.pattern.slots.length;
  }

  /** The fingerprint of the entry at `i` (a scan of at most `i` spaces: devices carry a few entries). */
  fingerprintAt(i: number): string {
    const p = this.prints;
    if (typeof p !== "string") return isRevisions(p) ? revisionFingerprint(p.suffix, p.column[p.from + i] as number) : (p[i] as string);
    let from = 0;
    for (let k = 0; k < i; k++) from = p.indexOf(" ", from) + 1;
    const end = p.indexOf(" ", from);
    return end === -1 ? p.slice(from) : p.slice(from, end);
  }

  private entryAt(i: number, fingerprint: string): DesiredEntry {
    const { name, hash, spec, untrusted } = this.pattern.slots[i] as Slot;
    const entry: DesiredEntry =
      spec !== undefined
        ? { device: this.device, deployment: name, specHash: hash, fingerprint, spec }
        : untrusted
          ? { device: this.device, deployment: name, specHash: hash, fingerprint, tampered: UNTRUSTED_SPEC }
          : { device: this.device, deployment: name, specHash: hash, fingerprint };
    const prior = this.priors?.get(name);
    return prior === undefined ? entry : { ...entry, prior };
  }

  /** The fingerprints column as the file writes it (space-separated), or undefined when they were a JSON array. */
  printsText(): string | undefined {
    const p = this.prints;
    if (typeof p === "string") return p;
    if (!isRevisions(p)) return undefined;
    let out = "";
    for (let i = 0; i < this.pattern.slots.length; i++) out += i === 0 ? this.fingerprintAt(i) : ` ${this.fingerprintAt(i)}`;
    return out;
  }

  get(name: DeploymentName): DesiredEntry | undefined {
    const i = this.pattern.position.get(name);
    return i === undefined ? undefined : this.entryAt(i, this.fingerprintAt(i));
  }

  has(name: DeploymentName): boolean {
    return this.pattern.position.has(name);
  }

  *values(): MapIterator<DesiredEntry> {
    const p = this.prints;
    const n = this.pattern.slots.length;
    if (typeof p !== "string") {
      for (let i = 0; i < n; i++) yield this.entryAt(i, this.fingerprintAt(i));
      return;
    }
    // One pass over the column for all entries.
    let from = 0;
    for (let i = 0; i < n; i++) {
      const end = i === n - 1 ? p.length : p.indexOf(" ", from);
      yield this.entryAt(i, p.slice(from, end));
      from = end + 1;
    }
  }

  *keys(): MapIterator<DeploymentName> {
    for (const s of this.pattern.slots) yield s.name;
  }

  *entries(): MapIterator<[DeploymentName, DesiredEntry]> {
    for (const e of this.values()) yield [e.deployment, e];
  }

  [Symbol.iterator](): MapIterator<[DeploymentName, DesiredEntry]> {
    return this.entries();
  }

  forEach(f: (value: DesiredEntry, key: DeploymentName, map: ReadonlyMap<DeploymentName, DesiredEntry>) => void, thisArg?: unknown): void {
    for (const e of this.values()) f.call(thisArg, e, e.deployment, this);
  }
}
