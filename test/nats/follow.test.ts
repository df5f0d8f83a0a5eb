/**
 * Following keys (Follow.ts) on a real nats-server: a snapshot, then every
 * stored change; refused compare-and-set writes and other keys change
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { BUCKET } from "../../src/interpreters/nats/Buckets.ts";
import { followKeys, type Follow } from "../../src/interpreters/nats/Follow.ts";
import { jetstream } from "@nats-io/jetstream";
import type { KvRecord } from "../../src/interpreters/nats/Watch.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { sleep } from "./support.ts";

const text = (e: KvRecord): string => new TextDecoder().decode(e.value);

describe("nats follow", () => {
  let server: NatsServer;
  let fleet: NatsInterpreter;
  beforeAll(async () => {
    server = await startNatsServer();
    fleet = await nats({ servers: server.url, name: "follow-test" });
  });
  afterAll(async () => {
    await fleet?.close();
    await server?.stop();
  });

  it("delivers the snapshot, then each stored change of its keys only", async () => {
    const kv = fleet.buckets.desired;
    await kv.put("f-01.a", "a1");
    await kv.put("f-01.b", "b1");
    await kv.put("f-02.a", "other");
    const seen: string[] = [];
    let caughtUp = 0;
    const follow: Follow = await followKeys({ nc: fleet.connection, js: jetstream(fleet.connection), kv, bucket: BUCKET.desired }, "f-01.>", {
      entry: (e) => seen.push(`${e.key} ${e.operation} ${text(e)}`),
      caughtUp: () => caughtUp++,
    });
    try {
      const until = async (pred: () => boolean): Promise<void> => {
        for (let i = 0; i < 100 && !pred(); i++) await sleep(20);
      };
      await until(() => caughtUp > 0);
      expect(seen.sort()).toEqual(["f-01.a PUT a1", "f-01.b PUT b1"]);

      seen.length = 0;
      const rev = await kv.put("f-01.a", "a2");
      await kv.put("f-02.a", "other2");
      await until(() => seen.length > 0);
      expect(seen).toEqual(["f-01.a PUT a2"]);

      // A compare-and-set write the server refuses is notified, and changes nothing.
      seen.length = 0;
      await expect(kv.update("f-01.a", "stale", rev - 1)).rejects.toThrow();
      const before = caughtUp;
      await until(() => caughtUp > before);
      await sleep(100);
      expect(seen).toEqual([]);

      await kv.delete("f-01.b");
      await until(() => seen.length > 0);
      expect(seen).toEqual(["f-01.b DEL "]);
    } finally {
      follow.stop();
    }
  });
});
