/**
 * Expected failures of the CLI: a wrong flag, a fleet file that does not
 * load, a stale saved plan. `main` prints them as one line (`Error: …`) and
 * exits 1, never with a stack trace (`FLEET_DEBUG=1` shows one).
 */

export class CliError extends Error {
  override readonly name: string = "CliError";
}

/** Wrong command-line usage; the message ends with where to read the help. */
export class UsageError extends CliError {
  override readonly name: string = "UsageError";
}

/**
 * Errors raised at the I/O edges below the CLI that are expected (a server
 * that cannot be reached, a corrupt state file, a held lock): recognised by
 * name, since they may come from another copy of the library.
 */
const EXPECTED = new Set([
  "BackendUnavailableError",
  "StateCorruptError",
  "StateLockedError",
  "LockError",
  "InvalidNameError",
  "InvalidDeviceError",
  "InvalidDeploymentError",
  "InvalidSelectorError",
  "InvalidAssignmentError",
]);

/** Whether `e` is a failure to report in one line (as opposed to a bug). */
export const isExpected = (e: unknown): e is Error =>
  e instanceof CliError ||
  (e instanceof Error && (EXPECTED.has(e.name) || typeof (e as NodeJS.ErrnoException).code === "string"));
