/**
 * `fleet sim`: many simulated agents in one process (work in progress).
 */
export const help = `fleet sim --devices N --nats URL [--labels k=v,...] [--arch A] [--fail-rate P] [--latency MS] [--seed N] [--prefix sim]`;

export const run = async (_argv: ReadonlyArray<string>): Promise<number> => {
  process.stderr.write("fleet sim: not implemented yet\n");
  return 1;
};
