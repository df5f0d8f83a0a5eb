/**
 * Where a holder of something that must not outlive the process (an apply
 * lock, a temporary file) registers how to release it, so that the process
 * can release it on every exit path: normal completion and errors release it
 * themselves (and unregister), a signal or a crash runs what is still
 * registered before the process exits.
 *
 * An interpreter never installs signal handlers itself (that is the process's
 * policy, src/cli/Exit.ts for the CLI): it is given an `ExitReleases` as an
 * option, and without one it only releases on its own paths.
 */
export interface ExitReleases {
  /** Registers `release`; returns the function that unregisters it (call it once released). */
  readonly add: (release: () => Promise<void>) => () => void;
}

/** Registers nothing: for library users that handle process exit themselves. */
export const noExitReleases: ExitReleases = { add: () => () => undefined };
