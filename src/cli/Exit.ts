/**
 * The `fleet` process releases what it holds (apply locks, temporary files)
 * on every exit path:
 * - normal completion and errors: the holder releases in its own `finally`
 *   and unregisters;
 * - SIGINT, SIGTERM, SIGHUP (unless the command listens for it itself, to
 *   stop gracefully): every release still registered runs (bounded by
 *   `RELEASE_TIMEOUT_MS`, so a server that is gone cannot hold the exit), then
 *   the process exits with 128 + the signal's number, as a shell reports a
 *   process killed by it; a second signal exits at once;
 * - an uncaught exception: the same, then one line `Error: …` and exit 1.
 *
 * A lock whose release cannot run (SIGKILL, power loss) stays: the local one
 * until `fleet force-unlock`, the NATS one until its TTL expires.
 */
import type { ExitReleases } from "../interpreters/ExitReleases.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";

/** How long the releases may take on a signal before the process exits anyway. */
export const RELEASE_TIMEOUT_MS = 3_000;

export const EXIT_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
export type ExitSignal = keyof typeof EXIT_SIGNALS;

const held = new Set<() => Promise<void>>();

/** The process's registry, passed to interpreters by `openBackend`. */
export const processReleases: ExitReleases = {
  add: (release) => {
    held.add(release);
    return () => void held.delete(release);
  },
};

/** Runs every registered release once, waiting at most `timeoutMs` for them. */
export const releaseAll = async (timeoutMs: number): Promise<void> => {
  const pending = [...held];
  held.clear();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
  await Promise.race([Promise.allSettled(pending.map((release) => release())), timeout]);
  clearTimeout(timer);
};

let installed = false;

/** Installs the signal and crash handlers (once per process); `say` writes one line to stderr. */
export const installExitHandlers = (say: (line: string) => void): void => {
  if (installed) return;
  installed = true;
  let exiting = false;
  const exitAfterReleases = (code: number): void => {
    if (exiting) process.exit(code);
    exiting = true;
    void releaseAll(RELEASE_TIMEOUT_MS).finally(() => process.exit(code));
  };
  for (const name of Object.keys(EXIT_SIGNALS) as ExitSignal[]) {
    process.on(name, () => {
      // A command with its own graceful stop (fleet agent, fleet sim) listens too: it releases on its own path.
      if (process.listenerCount(name) > 1) return;
      say(`Interrupted by ${name}${held.size > 0 ? "; releasing the state lock" : ""}.`);
      exitAfterReleases(128 + EXIT_SIGNALS[name]);
    });
  }
  process.on("uncaughtException", (e) => {
    // As for signals: code that listens too (the fleet-file load guard) reports the error on its own path.
    if (process.listenerCount("uncaughtException") > 1) return;
    say(`Error: ${errorMessage(e)} (an internal error: FLEET_DEBUG=1 prints the stack)`);
    if (process.env["FLEET_DEBUG"] === "1" && e instanceof Error && e.stack !== undefined) say(e.stack);
    exitAfterReleases(1);
  });
};
