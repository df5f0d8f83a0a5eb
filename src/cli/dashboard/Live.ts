/**
 * Following the backend, as a pure state machine (the functional core of
 * `fleet ui`'s polling loop): each read of the backend is an event, and a
 * `Publish` effect tells the connected pages to refetch. The driver in
 * `Dashboard.ts` performs the reads and the effects.
 *
 * Laws (test/ui/live.test.ts):
 * - reads with an unchanged digest publish nothing (pages are not woken for nothing);
 * - a changed digest, a new read error, and the recovery from an error each
 *   publish exactly once, with a version one higher than the last published;
 * - versions never decrease.
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface LiveState {
  /** Bumped on every publish; the page shows data of this version. */
  readonly version: number;
  /** Digest of the last good read, if any. */
  readonly digest: string | undefined;
  /** The last read's failure, while it lasts. */
  readonly error: string | undefined;
}

export type LiveEvent = { readonly _tag: "Read"; readonly digest: string } | { readonly _tag: "ReadFailed"; readonly message: string };

export type LiveEffect = { readonly _tag: "Publish"; readonly version: number };

export const initialLive: LiveState = { version: 0, digest: undefined, error: undefined };

// -------------------------------------------------------------------------------------
// step
// -------------------------------------------------------------------------------------

const publish = (s: LiveState, next: Omit<LiveState, "version">): readonly [LiveState, ReadonlyArray<LiveEffect>] => {
  const version = s.version + 1;
  return [{ ...next, version }, [{ _tag: "Publish", version }]];
};

export const step = (s: LiveState, e: LiveEvent): readonly [LiveState, ReadonlyArray<LiveEffect>] => {
  switch (e._tag) {
    case "Read":
      return e.digest === s.digest && s.error === undefined ? [s, []] : publish(s, { digest: e.digest, error: undefined });
    case "ReadFailed":
      // The last good data stays on the page; only the banner changes.
      return e.message === s.error ? [s, []] : publish(s, { digest: s.digest, error: e.message });
  }
};
