/**
 * `fleet ui`'s imperative shell: reads the backend on an interval (never two
 * reads at once), runs each result through `Live.step`, keeps the latest
 * observation for the API, and performs the `Publish` effects on the server.
 */
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import type { Latest } from "./Api.ts";
import { initialLive, step, type LiveEvent, type LiveState } from "./Live.ts";
import { startServer, type DashboardServer } from "./Server.ts";
import { digest, type Observation } from "./Snapshot.ts";
import type { Source } from "./Source.ts";

export interface DashboardOptions {
  readonly source: Source;
  readonly intervalMs: number;
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly backend: string;
  readonly assets: ReadonlyMap<string, { readonly body: Buffer; readonly type: string }>;
  /** Told about read failures after the first read (the page shows them too). */
  readonly onReadError?: (message: string) => void;
  readonly clock?: () => Date;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  /** Stops polling, ends the event streams, closes the server; waits for a read in flight. */
  stop(): Promise<void>;
}

/** Starts after one successful read: a backend or fleet file that fails at start is the caller's error to report. */
export const startDashboard = async (o: DashboardOptions): Promise<Dashboard> => {
  const clock = o.clock ?? (() => new Date());
  let live: LiveState = initialLive;
  let observation: Observation | undefined;
  let server: DashboardServer | undefined;

  const feed = (e: LiveEvent): void => {
    const [next, effects] = step(live, e);
    live = next;
    for (const eff of effects) server?.publish(eff.version);
  };
  const readOnce = async (): Promise<void> => {
    try {
      const obs = await o.source.read(clock());
      observation = obs;
      feed({ _tag: "Read", digest: digest(obs) });
    } catch (e) {
      const message = errorMessage(e).split("\n")[0] ?? "";
      if (message !== live.error) o.onReadError?.(message);
      feed({ _tag: "ReadFailed", message });
    }
  };

  const first = await o.source.read(clock());
  observation = first;
  feed({ _tag: "Read", digest: digest(first) });
  server = await startServer({
    host: o.host,
    port: o.port,
    token: o.token,
    assets: o.assets,
    backend: o.backend,
    latest: (): Latest => ({ version: live.version, observation, error: live.error }),
  });

  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer = setTimeout(() => {
      inFlight = readOnce().finally(() => {
        if (!stopped) schedule();
      });
    }, o.intervalMs);
  };
  schedule();
  const s = server;
  return {
    url: s.url,
    port: s.port,
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
      await s.close();
    },
  };
};
