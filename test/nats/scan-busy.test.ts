/**
 * A bulk read (Scan.ts, over Watch.ts) of a bucket whose keys are written
 * all the time, on a real nats-server: every read ends, with every key.
 *
 * Heartbeats are such a bucket: with many devices (or one agent beating every
 * 200 ms in a test) a write comes more often than the watch's settle time.
 * nats-server 2.9 can leave a watch's per-message pending count above zero
 * for good; the watch then asks the consumer itself. It used to ask only
 * after deliveries paused, which on this bucket never happens: `fleet.read()`
 * (and so `fleet status` and `fleet plan`) hung for good while agents beat.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { scanLatest } from "../../src/interpreters/nats/Scan.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { sleep } from "./support.ts";

/** Fails, naming the read, instead of letting the test hang until its time limit. */
const within = <A>(ms: number, what: string, p: Promise<A>): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
    p.then(
      (a) => (clearTimeout(t), resolve(a)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });

const FAST_MS = Number(process.env.FAST_MS ?? 100);

describe("a bulk read of a bucket written all the time", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    kv = await new Kvm(jetstream(nc)).create("busy", { history: 1 });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /** Writes `key` every `ms` until `stop()`; resolves once stopped. */
  const beat = (key: string, ms: number): { stop(): Promise<void> } => {
    let writing = true;
    const done = (async () => {
      for (let i = 0; writing; i++) {
        await kv.put(key, `${key}-${i}`);
        await sleep(ms);
      }
    })();
    return {
      stop: async () => {
        writing = false;
        await done;
      },
    };
  };

  /** 25 reads in a row on one JetStream client (as `fleet.read()` does), each bounded. */
  const reads = async (filter: string | undefined, keys: ReadonlyArray<string>): Promise<void> => {
    const js = jetstream(nc);
    for (let i = 0; i < 25; i++) {
      const entries = await within(10_000, `read ${i + 1} of ${filter ?? "every key"}`, scanLatest(js, "busy", { stallTimeoutMs: 30_000, ...(filter !== undefined ? { filter } : {}) }));
      expect(entries.map((e) => e.key).sort()).toEqual(keys);
    }
  };

  it("ends every time, with each key once, while one key is written every 100 ms and another every second", async () => {
    await kv.put("q.01", "q");
    await kv.put("q.02", "q");
    const writers = [beat("b.fast", FAST_MS), beat("b.slow", 1000)];
    try {
      await sleep(500);
      await reads(undefined, ["b.fast", "b.slow", "q.01", "q.02"]);
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
    }
  }, 300_000);

  it("a filtered read ends too while keys outside its filter are written more often still", async () => {
    // A filtered consumer's stream position runs past the writes it skips: catching up is judged by its deliveries.
    const writers = [beat("b.fast", FAST_MS), beat("b.slow", 1000), beat("o.noise", 30)];
    try {
      await sleep(500);
      await reads("b.>", ["b.fast", "b.slow"]);
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
    }
  }, 300_000);
});
