/**
 * A tiny seeded pseudo-random source (mulberry32), and a stable 32-bit hash
 * of strings (FNV-1a) to derive independent streams from one seed.
 *
 * Law: the same seed gives the same sequence, on every platform.
 */

/** FNV-1a over UTF-16 code units, as an unsigned 32-bit integer. */
export const hash32 = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

/** A generator of floats in [0, 1) from a 32-bit seed. */
export const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** One draw in [0, 1) determined by `seed` and `what` alone (not by call order). */
export const drawFor = (seed: number, what: string): number => mulberry32((hash32(what) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0)();
