/**
 * Enrollment on a real nats-server in operator mode: a single-use, expiring
 * token is exchanged for the device's own creds, which work for that device
 * only; a second redemption, an expired token, a token for another account
 * or from another control plane are refused with a reason; of concurrent
 * redemptions exactly one wins, also across two service instances and a
 * restart of the service; and a real agent runs under the enrolled creds.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createUser } from "@nats-io/nkeys";
import { expectScopedAgentRuns } from "./scoped-agent.ts";
import type { NatsServer } from "../support/nats-server.ts";
import { bytes, denied, startOperatorServer, type OperatorServer } from "../support/operator-server.ts";
import { connectJetStream } from "../../src/interpreters/nats/Connection.ts";
import { deviceInboxPrefix, initOperator, issueControlPlaneCreds, issueDeviceCreds, type OperatorSetup } from "../../src/interpreters/nats/Credentials.ts";
import {
  decodeBundle,
  decodeReply,
  encodeRequest,
  ENROLL_SUBJECT,
  enrollInboxPrefix,
  issueEnrollmentBundle,
  type EnrollmentBundle,
  type EnrollmentIntent,
  type EnrollReply,
} from "../../src/interpreters/nats/Enrollment.ts";
import { startEnrollmentService, type EnrollmentService } from "../../src/interpreters/nats/EnrollmentService.ts";
import { enrollDevice, formatEnrollError } from "../../src/interpreters/nats/Enroll.ts";
import { generateSigningKey } from "../../src/trust/Keys.ts";
import { signEnrollmentToken } from "../../src/trust/EnrollmentToken.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";

const A = "pi-a" as DeviceId;
const B = "pi-b" as DeviceId;
const HOUR = 3_600_000;

let op: OperatorServer;
let dir: string;
let server: NatsServer;
let setup: OperatorSetup;
let intent: EnrollmentIntent;
let controlPlane: NatsConnection;
const services: EnrollmentService[] = [];

const startService = async (i: EnrollmentIntent = intent): Promise<EnrollmentService> => {
  const s = await startEnrollmentService(controlPlane, jetstream(controlPlane), { intent: i });
  services.push(s);
  return s;
};

const bundleFor = async (device: DeviceId, ttlMs = HOUR, now = new Date()) => issueEnrollmentBundle(intent, device, { now, ttlMs });

const claimsOf = (b: EnrollmentBundle) => {
  const d = decodeBundle(`${JSON.stringify({ v: 1, kind: "fleet-enrollment", ...b })}`);
  if (E.isLeft(d)) throw new Error(`bundle: ${d.left._tag}`);
  return d.right.claims;
};

/** Sends one raw request over a bundle's own connection (as a device would), with a given public key and token. */
const redeemRaw = async (bundle: EnrollmentBundle, jti: string, requests: ReadonlyArray<{ readonly token: string; readonly publicKey: string }>): Promise<EnrollReply[]> => {
  const nc = await connect({ servers: server.url, inboxPrefix: enrollInboxPrefix(jti), authenticator: credsAuthenticator(bytes(bundle.creds)) });
  try {
    const replies = await Promise.all(requests.map((r) => nc.request(ENROLL_SUBJECT, encodeRequest(r), { timeout: 5000 })));
    return replies.map((m) => {
      const r = decodeReply(m.data);
      if (E.isLeft(r)) throw new Error(r.left);
      return r.right;
    });
  } finally {
    await nc.close();
  }
};

beforeAll(async () => {
  op = await startOperatorServer([A, B]);
  ({ dir, server, setup, controlPlane } = op);
  intent = { _tag: "EnrollmentIntent", setup, enrollmentKey: generateSigningKey(new Date()) };
  await startService();
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await op?.stop();
});

describe("enrollment", () => {
  it("a token is exchanged for creds that work for that device only", async () => {
    const { bundle, claims } = await bundleFor(A);
    const cred = await enrollDevice(bundle, claims, { servers: server.url }, { now: new Date() });
    if (E.isLeft(cred)) throw new Error(formatEnrollError(cred.left));
    expect(cred.right).toMatchObject({ _tag: "DeviceCredential", device: A, audience: setup.account.publicKey });
    expect(cred.right.creds).toContain("BEGIN USER NKEY SEED");

    const device = await connect({ servers: server.url, inboxPrefix: deviceInboxPrefix(A), authenticator: credsAuthenticator(bytes(cred.right.creds)) });
    try {
      const djs = jetstream(device, { checkAPI: false, timeout: 2000 });
      const desired = await new Kvm(djs).open("desired-state", { allow_direct: true });
      expect((await desired.get(`${A}.web`))?.string()).toBe("for A");
      await expect(djs.publish(`$KV.device-state.${A}.web`, "{}")).resolves.toMatchObject({ stream: "KV_device-state" });
      expect(await denied(desired.get(`${B}.web`))).toMatch(/Permissions Violation/);
      expect(await denied(desired.put(`${A}.web`, "forged"))).toMatch(/Permissions Violation/);
      expect(await denied(djs.publish(`$KV.device-state.${B}.web`, "{}"))).toMatch(/Permissions Violation/);
      // Nor may it enrol anything: the enrollment subject is not among its permissions.
      expect(await denied(device.request(ENROLL_SUBJECT, "{}", { timeout: 2000 }))).toMatch(/Permissions Violation|timeout|no responders/i);
    } finally {
      await device.close();
    }
  });

  it("a second redemption is refused, also by a restarted service, and a retry by the same key is answered again", async () => {
    const { bundle, claims } = await bundleFor(B);
    const first = await enrollDevice(bundle, claims, { servers: server.url }, { now: new Date() });
    expect(E.isRight(first)).toBe(true);
    const second = await enrollDevice(bundle, claims, { servers: server.url }, { now: new Date() });
    expect(E.isLeft(second) && second.left).toMatchObject({ _tag: "Refused", code: "already-used" });
    expect(E.isLeft(second) && formatEnrollError(second.left)).toMatch(/^enrollment refused: the token was already used at \S+; a token enrols one device once/);

    // The record outlives the service: stop every instance, start a new one.
    await Promise.all(services.splice(0).map((s) => s.stop()));
    await startService();
    const again = await redeemRaw(bundle, claims.jti, [{ token: bundle.token, publicKey: createUser().getPublicKey() }]);
    expect(again[0]).toMatchObject({ _tag: "Refused", code: "already-used" });

    // The key that won may ask again (its answer was lost): it gets a credential for the same key.
    const winner = createUser();
    const { bundle: b2, claims: c2 } = await bundleFor(B);
    const [r1, r2] = [
      ...(await redeemRaw(b2, c2.jti, [{ token: b2.token, publicKey: winner.getPublicKey() }])),
      ...(await redeemRaw(b2, c2.jti, [{ token: b2.token, publicKey: winner.getPublicKey() }])),
    ];
    expect(r1?._tag).toBe("Enrolled");
    expect(r2?._tag).toBe("Enrolled");
  });

  it("of concurrent redemptions of one token, across two service instances, exactly one wins", async () => {
    await startService(); // a second instance in the queue group
    for (let round = 0; round < 3; round++) {
      const { bundle, claims } = await bundleFor(A);
      const keys = Array.from({ length: 6 }, () => createUser().getPublicKey());
      const replies = await redeemRaw(bundle, claims.jti, keys.map((publicKey) => ({ token: bundle.token, publicKey })));
      expect(replies.filter((r) => r._tag === "Enrolled")).toHaveLength(1);
      expect(replies.filter((r) => r._tag === "Refused").map((r) => (r._tag === "Refused" ? r.code : ""))).toEqual(Array(5).fill("already-used"));
    }
  });

  it("an expired token is refused: by the device before it connects, and by the service", async () => {
    const past = new Date(Date.now() - 2 * HOUR);
    const { bundle, claims } = await bundleFor(A, HOUR, past);
    const r = await enrollDevice(bundle, claims, { servers: server.url }, { now: new Date() });
    expect(E.isLeft(r) && formatEnrollError(r.left)).toMatch(/^the enrollment token expired at \S+ \(issue a new one/);
    // Its own creds expired with it, so present it over a valid token's connection.
    const { bundle: live, claims: liveClaims } = await bundleFor(A);
    const [reply] = await redeemRaw(live, liveClaims.jti, [{ token: bundle.token, publicKey: createUser().getPublicKey() }]);
    expect(reply).toMatchObject({ _tag: "Refused", code: "expired" });
    expect(reply?._tag === "Refused" && reply.message).toMatch(/^it expired at /);
    // And the server refuses the expired token's own creds.
    const refused = await enrollDevice(bundle, claims, { servers: server.url }, { now: past });
    expect(E.isLeft(refused) && refused.left._tag).toBe("CredsRefused");
  });

  it("a token for another account, from another control plane, or altered is refused with its reason", async () => {
    const { bundle, claims } = await bundleFor(A);
    const publicKey = createUser().getPublicKey();
    const otherAudience = await signEnrollmentToken(intent.enrollmentKey, { device: A, audience: "AOTHERACCOUNT", now: new Date(), ttlMs: HOUR });
    const otherKey = await signEnrollmentToken(generateSigningKey(new Date()), { device: A, audience: setup.account.publicKey, now: new Date(), ttlMs: HOUR });
    const altered = `${bundle.token.slice(0, -4)}${bundle.token.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    const replies = await redeemRaw(bundle, claims.jti, [
      { token: otherAudience.token, publicKey },
      { token: otherKey.token, publicKey },
      { token: altered, publicKey },
      { token: "not a token", publicKey },
      { token: bundle.token, publicKey: "not a key" },
    ]);
    expect(replies.map((r) => (r._tag === "Refused" ? r.code : r._tag))).toEqual(["wrong-audience", "unknown-key", "bad-signature", "malformed", "bad-request"]);
    for (const r of replies) expect(r._tag === "Refused" && r.message.length).toBeGreaterThan(10);
    // None of them spent the token.
    const ok = await enrollDevice(bundle, claims, { servers: server.url }, { now: new Date() });
    expect(E.isRight(ok)).toBe(true);
  });

  it("expired device creds: the refusal names the file and when they expired", async () => {
    const file = join(dir, "expired.creds");
    await writeFile(file, await issueDeviceCreds(setup, A, { expiresAt: new Date(Date.now() - 60_000) }), { mode: 0o600 });
    const err = await connectJetStream({ servers: server.url, credsFile: file, scopedTo: A }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(new RegExp(`^NATS server ${server.url} refused the credentials in ${file} \\(they expired at \\S+\\): `));
  });

  it("a bundle for another server: its creds are refused by this one, with one line that says so", async () => {
    const other = await initOperator("other");
    const otherIntent: EnrollmentIntent = { _tag: "EnrollmentIntent", setup: other, enrollmentKey: generateSigningKey(new Date()) };
    const { bundle, claims } = await issueEnrollmentBundle(otherIntent, A, { now: new Date(), ttlMs: HOUR });
    const r = await enrollDevice(bundle, claimsOf(bundle), { servers: server.url }, { now: new Date() });
    expect(E.isLeft(r) && formatEnrollError(r.left)).toMatch(new RegExp(`^NATS server ${server.url} refused the token's enrollment creds \\(.*\\): the token is for account ${claims.audience}`));
  });

  it("a real agent runs end to end under the creds it enrolled for", async () => {
    const { bundle, claims } = await bundleFor(A);
    const cred = await enrollDevice(bundle, claims, { servers: server.url }, { now: new Date() });
    if (E.isLeft(cred)) throw new Error(formatEnrollError(cred.left));
    await expectScopedAgentRuns({ url: server.url, device: A, deviceCreds: cred.right.creds, controlPlaneCreds: await issueControlPlaneCreds(setup), dir, deleteKeys: [`${A}.web`, `${B}.web`] });
  }, 60_000);
});
