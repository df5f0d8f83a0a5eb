/**
 * An ordered index: values kept in the order of their keys, one per key,
 * with insert, replace and remove in time independent of the index's size
 * (up to a logarithm), and iteration in key order.
 *
 * A sorted array would move half its elements on every insert or remove: at
 * a plan of a million devices, milliseconds per change. Here the values live
 * in chunks of at most `chunkSize`, each sorted, the chunks in order; a
 * change moves at most one chunk's elements.
 *
 * Law (test/laws/ordered-index.test.ts): after any sequence of `set` and
 * `remove`, iterating gives the same values as a sorted array of the last
 * value set per key, minus the removed keys.
 */
import type { Ord } from "fp-ts/lib/Ord.js";

export interface OrderedIndex<K, V> {
  /** Inserts, or replaces the value under the same key. */
  readonly set: (value: V) => void;
  readonly remove: (key: K) => void;
  readonly size: () => number;
  readonly values: () => IterableIterator<V>;
}

export const orderedIndex = <K, V>(
  ordKey: Ord<K>,
  keyOf: (v: V) => K,
  initial: ReadonlyArray<V> = [],
  chunkSize = 512,
): OrderedIndex<K, V> => {
  const half = Math.max(1, chunkSize >>> 1);
  // `initial` is in key order, one per key; chunks start half full, so early inserts split none.
  const chunks: V[][] = [];
  for (let i = 0; i < initial.length; i += half) chunks.push(initial.slice(i, i + half));
  let size = initial.length;

  /** The chunk that holds `key`, or would: the first whose last key is not less than it (or the last chunk). */
  const chunkFor = (key: K): number => {
    let lo = 0;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid] as V[];
      if (ordKey.compare(keyOf(c[c.length - 1] as V), key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  /** Position of `key` in a chunk, or where it would go. */
  const search = (chunk: ReadonlyArray<V>, key: K): { readonly found: boolean; readonly at: number } => {
    let lo = 0;
    let hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = ordKey.compare(keyOf(chunk[mid] as V), key);
      if (c === 0) return { found: true, at: mid };
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return { found: false, at: lo };
  };

  return {
    set: (value) => {
      const key = keyOf(value);
      if (chunks.length === 0) {
        chunks.push([value]);
        size = 1;
        return;
      }
      const i = chunkFor(key);
      const chunk = chunks[i] as V[];
      const { found, at } = search(chunk, key);
      if (found) {
        chunk[at] = value;
        return;
      }
      chunk.splice(at, 0, value);
      size++;
      if (chunk.length > chunkSize) chunks.splice(i + 1, 0, chunk.splice(half));
    },
    remove: (key) => {
      if (chunks.length === 0) return;
      const i = chunkFor(key);
      const chunk = chunks[i] as V[];
      const { found, at } = search(chunk, key);
      if (!found) return;
      chunk.splice(at, 1);
      size--;
      if (chunk.length === 0) chunks.splice(i, 1);
    },
    size: () => size,
    values: function* () {
      for (const c of chunks) yield* c;
    },
  };
};
