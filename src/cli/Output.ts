/**
 * Output that survives its reader going away: `fleet plan … | head -1`, or
 * `fleet apply --progress 2>&1 | …` whose reader exits. A write to a pipe
 * nobody reads fails with `EPIPE`, which Node reports as an `'error'` event on
 * the stream; unhandled, it kills the process with a stack trace in the middle
 * of whatever it was doing (an apply holding its lock). Here, that stream's
 * output simply ends: later writes to it are dropped, the command carries on
 * to its normal end (releasing what it holds) and exits with its usual code.
 */

export type OutputName = "stdout" | "stderr";

const gone = new Set<OutputName>();
const guarded = new WeakSet<NodeJS.WriteStream>();

/** Whether the reader of `name` went away (its later output is dropped). */
export const outputGone = (name: OutputName): boolean => gone.has(name);

const guard = (name: OutputName, stream: NodeJS.WriteStream): void => {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  // Any error on our own output has nowhere to be reported: it ends that output, never the process.
  stream.on("error", () => {
    gone.add(name);
  });
};

/** Makes the process's stdout and stderr end quietly when their reader goes away. */
export const guardProcessOutput = (): void => {
  guard("stdout", process.stdout);
  guard("stderr", process.stderr);
};
