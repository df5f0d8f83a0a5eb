/**
 * Bounded parallelism: run `task` over `items` with at most `width` in
 * flight (the API server and this process share two cores; a plan for a
 * thousand devices must not open a thousand requests at once).
 *
 * Items are started in order; `task` reports its own outcome (it must not
 * throw: failures are values here).
 */
export const forEachConcurrently = async <A>(items: ReadonlyArray<A>, width: number, task: (item: A) => Promise<void>): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++] as A);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, worker));
};
