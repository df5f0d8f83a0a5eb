/**
 * A `ReadonlyMap` that is another map with some keys set to other values or
 * removed, without copying it: what an apply that changes a few devices of a
 * million leaves (copying the outer map of a million devices was a second
 * of every such apply).
 *
 * Iteration is the base's order, changed values in place and removed keys
 * skipped, then the keys the base lacks in the order they were first set.
 * Values are never `undefined` (a removed key is absent). An edit of an edit
 * is flattened into a `Map` once a chain is `MAX_DEPTH` deep, so lookups stay
 * cheap however many applies a long-lived state sees.
 *
 * Laws (test/laws/edited-map.test.ts): it answers `get`, `has`, `size` and
 * iteration exactly as a copy of the base with the same edits applied.
 */

const MAX_DEPTH = 8;

export class EditedMap<K, V extends object> implements ReadonlyMap<K, V> {
  readonly size: number;
  private readonly depth: number;

  private constructor(
    private readonly base: ReadonlyMap<K, V>,
    /** The changed keys: their new value, or `undefined` for removed. */
    private readonly changes: ReadonlyMap<K, V | undefined>,
  ) {
    let size = base.size;
    for (const [k, v] of changes) {
      const had = base.has(k);
      if (had && v === undefined) size--;
      else if (!had && v !== undefined) size++;
    }
    this.size = size;
    this.depth = base instanceof EditedMap ? (base as EditedMap<K, V>).depth + 1 : 1;
  }

  /**
   * `base` with `changes` applied (`undefined`: the key is removed); `base` itself when nothing changed.
   * `changes` is kept, not copied (a first apply's are a million): the caller must not change it afterwards.
   */
  static of<K, V extends object>(base: ReadonlyMap<K, V>, changes: ReadonlyMap<K, V | undefined>): ReadonlyMap<K, V> {
    if (changes.size === 0) return base;
    const edited = new EditedMap(base, changes);
    return edited.depth > MAX_DEPTH ? new Map(edited) : edited;
  }

  get(k: K): V | undefined {
    return this.changes.has(k) ? this.changes.get(k) : this.base.get(k);
  }

  has(k: K): boolean {
    return this.changes.has(k) ? this.changes.get(k) !== undefined : this.base.has(k);
  }

  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.base) {
      if (!this.changes.has(k)) yield [k, v];
      else {
        const c = this.changes.get(k);
        if (c !== undefined) yield [k, c];
      }
    }
    for (const [k, c] of this.changes) if (c !== undefined && !this.base.has(k)) yield [k, c];
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(f: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) f.call(thisArg, v, k, this);
  }
}
