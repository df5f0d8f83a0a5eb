/**
 * Running a fleet file's own code (its module body, its exported function or
 * promise) under watch, since that code runs inside the CLI's process:
 *
 * - `process.exit(…)` called while loading would end `fleet apply` with that
 *   code, printing nothing and applying nothing: it is intercepted (it throws
 *   in the fleet file's code) and reported;
 * - a top-level await or exported promise that nothing can ever settle would
 *   let the event loop run dry, and Node end the process with exit code 13
 *   and no output: an empty event loop during a load is reported at once;
 * - one that waits on something alive but slow (a timer, a socket) is cut
 *   off after a timeout (`--load-timeout`).
 *
 * Each ends the load with one message naming the file, so that the CLI's
 * own clean-up (locks, backends) still runs. Everything installed is removed
 * when the load ends, whichever way.
 */
import { errorMessage } from "../algebra/ErrorMessage.ts";

/** The default of `--load-timeout` (docs/cli.md). */
export const DEFAULT_LOAD_TIMEOUT_MS = 30_000;

/** Thrown inside the fleet file's code by the intercepted `process.exit`, to stop it there. */
class ExitDuringLoad extends Error {
  override readonly name = "ExitDuringLoad";
}

const seconds = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/**
 * Runs `load` (the fleet file `shown`); if the file's code exits, can never
 * finish, or takes longer than `timeoutMs`, rejects with `fail(message)`.
 */
export const guardLoad = async <A>(shown: string, timeoutMs: number, load: () => Promise<A>, fail: (message: string) => Error): Promise<A> => {
  let pending = true;
  let reject: (e: Error) => void = () => undefined;
  const stopped = new Promise<never>((_, r) => {
    reject = r;
  });
  const stop = (message: string): void => {
    if (!pending) return;
    pending = false;
    reject(fail(message));
  };
  const realExit = process.exit;
  const interceptedExit = (code?: number | string | null): never => {
    stop(`${shown} called process.exit(${code === undefined ? "" : String(code)}) while loading`);
    throw new ExitDuringLoad(`process.exit(${String(code)}) while loading ${shown}`);
  };
  // An exit called from a timer or a callback of the file throws there, outside any await: it is already reported.
  const onUncaught = (e: unknown): void => {
    if (e instanceof ExitDuringLoad) return;
    stop(`${shown}: its code threw while loading: ${errorMessage(e)}`);
  };
  const onBeforeExit = (): void =>
    stop(`${shown}: loading can never finish: it awaits a promise that nothing is left to settle (a top-level await, or the exported promise or function)`);
  const timer = setTimeout(() => stop(`${shown}: did not finish loading within ${seconds(timeoutMs)} (--load-timeout changes the limit)`), timeoutMs);
  // The timer must not keep the process alive itself, or an empty event loop would never be noticed.
  timer.unref();
  process.exit = interceptedExit as typeof process.exit;
  process.on("uncaughtException", onUncaught);
  process.on("beforeExit", onBeforeExit);
  try {
    return await Promise.race([load(), stopped]);
  } finally {
    pending = false;
    clearTimeout(timer);
    process.exit = realExit;
    process.off("uncaughtException", onUncaught);
    process.off("beforeExit", onBeforeExit);
  }
};
