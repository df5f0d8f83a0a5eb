/**
 * A whole-bucket read (Scan.ts) is checked against the bucket's own count of
 * keys taken before it began, on a real nats-server. In a cluster the read's
 * consumer may sit on a member still catching up and end without keys the
 * bucket holds; `keysHeld` stands for that member here by saying the bucket
 * holds more than the read finds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { keysHeld, scanLatest, ScanError, SCAN_ATTEMPTS } from "../../src/interpreters/nats/Scan.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";

describe("a whole-bucket read checked against the bucket's count of keys", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let kv: KV;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    js = jetstream(nc);
    kv = await new Kvm(js).create("complete", { history: 3 });
    for (let i = 0; i < 20; i++) await kv.put(`k${i}`, `v${i}`);
    // A key written twice is one key; a deleted key is still one (its tombstone is read too).
    await kv.put("k0", "again");
    await kv.delete("k1");
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("the bucket's count is its keys, tombstones included, and a read finds them all", async () => {
    expect(await keysHeld(js, "complete")).toBe(20);
    const keys = (await scanLatest(js, "complete")).map((e) => e.key).sort();
    expect(keys).toHaveLength(20);
  });

  it("a read that finds fewer keys than the bucket held is read again, and a later complete read is taken", async () => {
    const asked: number[] = [];
    // The first attempt's "member" lags by one key; the second does not.
    const held = async (): Promise<number> => (asked.push(asked.length), asked.length === 1 ? 21 : 20);
    const got = await scanLatest(js, "complete", { keysHeld: held });
    expect(got).toHaveLength(20);
    expect(asked).toHaveLength(2);
  });

  it(`a read still short after ${SCAN_ATTEMPTS} attempts fails with one line, rather than give a part of the bucket`, async () => {
    let asked = 0;
    const read = scanLatest(js, "complete", { keysHeld: async () => (asked++, 25) });
    await expect(read).rejects.toThrow(ScanError);
    await expect(read).rejects.toThrow(`reading bucket complete: 20 keys read ${SCAN_ATTEMPTS} times, but the bucket held 25 when each read began`);
    expect(asked).toBe(SCAN_ATTEMPTS);
  });

  it("a filtered read, or one whose end is not confirmed (a follower's snapshot), is not checked", async () => {
    let asked = 0;
    const held = async (): Promise<number> => (asked++, 99);
    expect(await scanLatest(js, "complete", { filter: "k1*", keysHeld: held })).toHaveLength(0);
    expect(await scanLatest(js, "complete", { filter: "k2", keysHeld: held })).toHaveLength(1);
    expect(await scanLatest(js, "complete", { confirm: false, keysHeld: held })).toHaveLength(20);
    expect(asked).toBe(0);
  });
});
