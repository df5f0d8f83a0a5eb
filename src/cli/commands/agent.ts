/**
 * `fleet agent`: the device agent (work in progress).
 */
export const help = `fleet agent --device-id ID --nats URL [--labels k=v,...] [--arch A] [--runtime podman|simulated]
            [--heartbeat-interval MS] [--nats-creds FILE] [--nats-token TOKEN]`;

export const run = async (_argv: ReadonlyArray<string>): Promise<number> => {
  process.stderr.write("fleet agent: not implemented yet\n");
  return 1;
};
