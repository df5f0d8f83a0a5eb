/**
 * Per-device credentials on a real nats-server in operator mode: with device
 * A's creds, every operation outside A's own keys is denied by the server,
 * and A's own reads and writes work.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { expectScopedAgentRuns } from "./scoped-agent.ts";
import { bytes, denied, startOperatorServer, type OperatorServer } from "../support/operator-server.ts";
import { deviceInboxPrefix, issueControlPlaneCreds, issueDeviceCreds } from "../../src/interpreters/nats/Credentials.ts";
import { scanLatest } from "../../src/interpreters/nats/Scan.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";

const A = "pi-a" as DeviceId;
const B = "pi-b" as DeviceId;

let op: OperatorServer;
let device: NatsConnection;
let djs: JetStreamClient;
let desired: KV;

beforeAll(async () => {
  op = await startOperatorServer([A, B]);
  device = await connect({
    servers: op.server.url,
    inboxPrefix: deviceInboxPrefix(A),
    authenticator: credsAuthenticator(bytes(await issueDeviceCreds(op.setup, A))),
  });
  // A device may not call the JetStream API at large: no API check, buckets opened for direct gets.
  djs = jetstream(device, { checkAPI: false, timeout: 2000 });
  desired = await new Kvm(djs).open("desired-state", { allow_direct: true });
});

afterAll(async () => {
  await device?.close();
  await op?.stop();
});

describe("a device's own credentials", () => {
  it("read its own desired entries, by direct get and by a snapshot", async () => {
    expect((await desired.get(`${A}.web`))?.string()).toBe("for A");
    const snapshot = await scanLatest(djs, "desired-state", { filter: `${A}.>`, stallTimeoutMs: 5000 });
    expect(snapshot.map((e) => e.key)).toEqual([`${A}.web`]);
  });

  it("write its own info, heartbeat and state", async () => {
    await expect(djs.publish(`$KV.device-info.${A}`, "{}")).resolves.toMatchObject({ stream: "KV_device-info" });
    await expect(djs.publish(`$KV.device-heartbeat.${A}`, "{}")).resolves.toMatchObject({ stream: "KV_device-heartbeat" });
    await expect(djs.publish(`$KV.device-state.${A}.web`, "{}")).resolves.toMatchObject({ stream: "KV_device-state" });
  });

  it("are denied another device's entries: read, snapshot, watch", async () => {
    expect(await denied(desired.get(`${B}.web`))).toMatch(/Permissions Violation/);
    expect(await denied(scanLatest(djs, "desired-state", { filter: `${B}.>`, stallTimeoutMs: 3000 }))).toMatch(/Permissions Violation/);
    expect(await denied(scanLatest(djs, "desired-state", { stallTimeoutMs: 3000 }))).toMatch(/Permissions Violation/);
    const sub = device.subscribe(`$KV.desired-state.${B}.>`);
    const closed = await sub.closed.then(
      () => "closed",
      (e: unknown) => (e as Error).message,
    );
    expect(closed).toMatch(/Permissions Violation|closed/);
    expect(sub.isClosed()).toBe(true);
  });

  it("are denied any write, delete or purge of desired state, and any write to another device's state, info and heartbeat", async () => {
    expect(await denied(desired.put(`${A}.web`, "forged"))).toMatch(/Permissions Violation/);
    // A delete or purge carries no signature (docs/security.md): a device must not be able to send one, even for its own key.
    expect(await denied(desired.delete(`${A}.web`))).toMatch(/Permissions Violation/);
    expect(await denied(desired.purge(`${A}.web`))).toMatch(/Permissions Violation/);
    const jsm = await jetstreamManager(device, { checkAPI: false, timeout: 2000 });
    expect(await denied(jsm.streams.purge("KV_desired-state", { filter: `$KV.desired-state.${A}.web` }))).toMatch(/Permissions Violation/);
    expect(await denied(djs.publish(`$KV.desired-state.${B}.web`, "forged"))).toMatch(/Permissions Violation/);
    expect(await denied(djs.publish(`$KV.device-state.${B}.web`, "{}"))).toMatch(/Permissions Violation/);
    expect(await denied(djs.publish(`$KV.device-info.${B}`, "{}"))).toMatch(/Permissions Violation/);
    expect(await denied(djs.publish(`$KV.device-heartbeat.${B}`, "{}"))).toMatch(/Permissions Violation/);
  });

  it("are denied stream management", async () => {
    const jsm = await jetstreamManager(device, { checkAPI: false, timeout: 2000 });
    expect(await denied(jsm.streams.add({ name: "X", subjects: ["x.>"] }))).toMatch(/Permissions Violation/);
    expect(await denied(jsm.streams.delete("KV_desired-state"))).toMatch(/Permissions Violation/);
    expect(await denied(jsm.streams.purge("KV_desired-state"))).toMatch(/Permissions Violation/);
  });

  it("cannot read replies sent to another device's inbox", async () => {
    const sub = device.subscribe(`${deviceInboxPrefix(B)}.>`);
    await sub.closed.catch(() => undefined);
    expect(sub.isClosed()).toBe(true);
  });

  it("the control plane still sees everything, and the entries are untouched", async () => {
    const kv = await new Kvm(jetstream(op.controlPlane)).open("desired-state");
    expect((await kv.get(`${A}.web`))?.string()).toBe("for A");
    expect((await kv.get(`${B}.web`))?.string()).toBe("for B");
  });
  it("a real agent runs end to end under its own creds (inbox prefix, no API check, bound buckets)", async () => {
    await expectScopedAgentRuns({ url: op.server.url, device: A, deviceCreds: await issueDeviceCreds(op.setup, A), controlPlaneCreds: await issueControlPlaneCreds(op.setup), dir: op.dir, deleteKeys: [`${A}.web`, `${B}.web`] });
  }, 60_000);

});
