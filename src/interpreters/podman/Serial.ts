/**
 * One-at-a-time execution of async tasks, in call order: a reconcile and a
 * status check (or two applies) of one process never interleave their
 * podman calls. A failed task does not block the ones queued after it.
 */
export type Serial = <A>(task: () => Promise<A>) => Promise<A>;

export const serial = (): Serial => {
  let tail: Promise<unknown> = Promise.resolve();
  return <A>(task: () => Promise<A>): Promise<A> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
};
