/**
 * Bounded parallelism, the one pool of the interpreters: run `task` over
 * `items` with at most `width` in flight (a plan for a thousand devices must
 * not open a thousand requests at once; the server and this process share
 * two cores). The Kubernetes apply and agent, the NATS apply and the
 * simulation's agent start-up all go through it.
 *
 * Items are started in order, one as soon as a slot frees; `items` is
 * pulled lazily, so a range of a million indexes is never materialised.
 * `task` reports its own outcome (it must not throw: failures are values
 * here); should it throw anyway, the pool rejects at once and starts no
 * more.
 */
import pMap from "p-map";

export const forEachConcurrently = async <A>(items: Iterable<A>, width: number, task: (item: A) => Promise<void>): Promise<void> => {
  await pMap(items, (item) => task(item), { concurrency: Math.max(1, Math.floor(width)) });
};

/** 0, 1, …, n - 1, lazily (for pools over indexes). */
export function* indexes(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}
