/**
 * "Did you mean …?" for a mistyped command or flag: the nearest candidate by
 * edit distance (Levenshtein), when it is near enough to be a typo rather
 * than another word. Ties go to the earlier candidate, so the answer does not
 * depend on anything but the inputs.
 */
import { distance } from "fastest-levenshtein";

/** At most a third of the word may differ (and always one edit): `pln` → `plan`, never `sim` → `kube`. */
const nearEnough = (word: string, d: number): boolean => d <= Math.max(1, Math.floor(word.length / 3));

export const nearest = (word: string, candidates: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && nearEnough(word, bestDistance) ? best : undefined;
};

/** ` (did you mean plan?)`, or nothing. */
export const didYouMean = (word: string, candidates: ReadonlyArray<string>): string => {
  const n = nearest(word, candidates);
  return n === undefined ? "" : ` (did you mean ${n}?)`;
};
