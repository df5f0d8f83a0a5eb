/**
 * An immutable `ReadonlyMap` over string keys given in strictly increasing
 * code-unit order (what `OrdDeviceId` is): two arrays, no hash table.
 *
 * Why: a backend that reads a million devices in id order (the local state
 * file) would otherwise insert them into `Map`s, and growing a `Map` of a
 * million keys costs about half a second on the 2-core machines this runs
 * on, per map, before anything is planned. Lookups are a binary search, with
 * one shortcut: a lookup of the key after the last one found (a diff walks
 * devices in id order) is one comparison.
 *
 * Values may be kept as columns and made when asked for (`view`).
 *
 * Laws (test/laws/sorted-map.test.ts): it answers `get`, `has`, `size` and
 * iteration exactly as a `Map` built from the same pairs, for lookups in any
 * order.
 */

/** Whether `keys` are in strictly increasing code-unit order (what a `SortedMap` needs). */
export const increasing = (keys: ReadonlyArray<string>): boolean => {
  for (let i = 1; i < keys.length; i++) if (!((keys[i - 1] as string) < (keys[i] as string))) return false;
  return true;
};

export class SortedMap<K extends string, V> implements ReadonlyMap<K, V> {
  /** The index of the last key found: the next lookup tries the key after it first. */
  private last = -1;

  private constructor(
    private readonly ks: ReadonlyArray<K>,
    private readonly valueAt: (i: number) => V,
  ) {}

  /**
   * The map of `keys[i] → values[i]`, or `undefined` when the keys are not
   * strictly increasing (the caller builds a `Map` instead). The arrays are
   * kept, not copied: the caller must not change them afterwards.
   */
  static fromSorted<K extends string, V>(keys: ReadonlyArray<K>, values: ReadonlyArray<V>): SortedMap<K, V> | undefined {
    if (keys.length !== values.length) throw new RangeError(`SortedMap: ${keys.length} keys for ${values.length} values`);
    return SortedMap.view(keys, (i) => values[i] as V);
  }

  /**
   * The map of `keys[i] → valueAt(i)`, the value made each time it is asked
   * for (a value kept as columns costs no object per key until then), or
   * `undefined` when the keys are not strictly increasing.
   */
  static view<K extends string, V>(keys: ReadonlyArray<K>, valueAt: (i: number) => V): SortedMap<K, V> | undefined {
    return increasing(keys) ? new SortedMap(keys, valueAt) : undefined;
  }

  private indexOf(k: K): number {
    const ks = this.ks;
    const next = this.last + 1;
    if (next < ks.length && ks[next] === k) return (this.last = next);
    let lo = 0;
    let hi = ks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = ks[mid] as K;
      if (m === k) return (this.last = mid);
      if (m < k) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  get size(): number {
    return this.ks.length;
  }

  get(k: K): V | undefined {
    const i = this.indexOf(k);
    return i === -1 ? undefined : this.valueAt(i);
  }

  has(k: K): boolean {
    return this.indexOf(k) !== -1;
  }

  keys(): MapIterator<K> {
    return this.ks.values();
  }

  *values(): MapIterator<V> {
    for (let i = 0; i < this.ks.length; i++) yield this.valueAt(i);
  }

  *entries(): MapIterator<[K, V]> {
    const ks = this.ks;
    for (let i = 0; i < ks.length; i++) yield [ks[i] as K, this.valueAt(i)];
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(f: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    const ks = this.ks;
    for (let i = 0; i < ks.length; i++) f.call(thisArg, this.valueAt(i), ks[i] as K, this);
  }
}

/**
 * `SortedMap.view` when the keys are in order, else a `Map` of the same
 * pairs, every value made once (the last value of a repeated key wins, as
 * `Map` does).
 */
export const mapOfColumns = <K extends string, V>(keys: ReadonlyArray<K>, valueAt: (i: number) => V): ReadonlyMap<K, V> => {
  const sorted = SortedMap.view(keys, valueAt);
  if (sorted !== undefined) return sorted;
  const m = new Map<K, V>();
  for (let i = 0; i < keys.length; i++) m.set(keys[i] as K, valueAt(i));
  return m;
};
