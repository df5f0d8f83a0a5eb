/**
 * Signed desired state end to end on a real nats-server: the control plane
 * applies signed entries (the program layer's `apply` with a signing key), a
 * real agent with a trust store runs them (simulated runtime), then entries
 * written straight into the bucket are each refused and reported `Rejected`
 * with the reason, while the runtime keeps the spec last accepted: a forged
 * signature (right key name), a replay of an older signed entry, an expired
 * entry, another device's entry under this device's key, a tampered spec.
 * After a restart (same state dir), the replay is still refused. A damaged
 * accepted-revisions file refuses `fleet agent --trust` with one line.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import type { Reality } from "../../src/diff/Reality.ts";
import { status as fleetStatus } from "../../src/diff/Status.ts";
import { all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { runAgent, type AgentHandle } from "../../src/interpreters/nats/agent.ts";
import { encodeDesiredValue } from "../../src/interpreters/nats/wire.ts";
import { simulatedRuntime, type SimulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { apply } from "../../src/program/Apply.ts";
import { plan } from "../../src/program/Plan.ts";
import { addKey, emptyTrustStore, encodeSigningKey, encodeTrustStore, generateSigningKey, type SigningKey, type TrustStore } from "../../src/trust/Keys.ts";
import { DEFAULT_SIGNATURE_TTL_MS, entrySigner } from "../../src/trust/Signer.ts";
import { signaturesOf } from "../../src/trust/SignedBatch.ts";
import { signingOf } from "../../src/cli/TrustFiles.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { waitForReality } from "./support.ts";
import { workspace } from "../cli/support.ts";

const FLEET = fileURLToPath(new URL("../../bin/fleet.js", import.meta.url));
const web = (tag: string) => deployment("web", podman({ services: [{ name: "httpd", image: `registry.local/web:${tag}` }] }));
const ME = "pi-01" as DeviceId;
const WEB = "web" as DeploymentName;
const KEY = `${ME}.${WEB}`;
const DAY = 86_400_000;

describe("signed desired state (nats)", () => {
  let server: NatsServer;
  let fleet: NatsInterpreter;
  let key: SigningKey;
  let trust: TrustStore;
  let dir: string;
  let runtime: SimulatedRuntime;
  let agent: AgentHandle | undefined;
  const logs: string[] = [];

  const startAgent = async (): Promise<AgentHandle> => {
    runtime = simulatedRuntime({ name: ME, latencyMs: 1 });
    return runAgent({ device: device(ME), runtime, nats: { servers: server.url }, heartbeatIntervalMs: 200, retryMs: 200, trust, stateDir: dir, log: (l) => logs.push(l) });
  };

  const applySigned = async (w: World): Promise<void> => {
    const planned = await plan(fleet, w, { now: new Date() });
    const r = await apply(fleet, planned, { signer: (context) => entrySigner(key, { ...context, ttlMs: 30 * DAY }) });
    expect(r._tag).toBe("Completed");
    if (r._tag === "Completed") expect(r.counts.failed).toBe(0);
  };

  const observed = (r: Reality) => r.observed.get(ME)?.get(WEB);
  const running = async (): Promise<string | undefined> => (await runtime.status()).find((s) => s.deployment === WEB && s.phase === "Running")?.specHash;
  const rawValue = async (): Promise<Uint8Array> => {
    const e = await fleet.buckets.desired.get(KEY);
    if (e === null) throw new Error(`no entry ${KEY}`);
    return e.value;
  };

  beforeAll(async () => {
    server = await startNatsServer();
    fleet = await nats({ servers: server.url, name: "signed-test", lockTtlMs: 3_000 });
    key = generateSigningKey(new Date());
    trust = addKey(key.publicJwk, new Date())(emptyTrustStore);
    dir = mkdtempSync(join(tmpdir(), "fleet-signed-"));
  });
  afterAll(async () => {
    await agent?.stop();
    await fleet?.close();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("runs signed entries; rejects forged, replayed, expired, foreign and tampered ones, keeps the last accepted spec, and still rejects the replay after a restart", async () => {
    agent = await startAgent();
    await waitForReality(fleet, (r) => r.devices.has(ME));
    const w1 = world({ assignments: [assign(all, web("1"))] });
    const w2 = world({ assignments: [assign(all, web("2"))] });
    const h2 = specHash(web("2"));

    await applySigned(w1);
    let r = await waitForReality(fleet, (x) => observed(x)?.phase === "Running" && observed(x)?.specHash === specHash(web("1")));
    expect(observed(r)?.phase).toBe("Running");
    const v1 = await rawValue();

    await applySigned(w2);
    r = await waitForReality(fleet, (x) => observed(x)?.phase === "Running" && observed(x)?.specHash === h2);
    expect(observed(r)?.specHash).toBe(h2);
    const v2 = await rawValue();
    const v2json = JSON.parse(new TextDecoder().decode(v2)) as { sig: { jws: string; revision: number } };

    /**
     * `counted`: how status counts it: failed when the entry states the World's spec hash, pending when it
     * states another; a tampered value is marked tampered by the control plane's read (the plan repairs it).
     */
    const expectRejected = async (bytes: Uint8Array, reason: RegExp, counted: "failed" | "pending" | "tampered"): Promise<void> => {
      await fleet.buckets.desired.put(KEY, bytes);
      const seen = await waitForReality(fleet, (x) => observed(x)?.phase === "Rejected" && reason.test(observed(x)?.error ?? ""));
      expect(observed(seen)?.phase).toBe("Rejected");
      expect(observed(seen)?.error).toMatch(reason);
      // Counted as failed by status (a rejection of another spec than the World's is a pending one).
      const status = fleetStatus(w2, seen, { now: new Date() });
      const web2 = status.deployments.find((d) => d.deployment === WEB);
      if (counted === "tampered") {
        expect(seen.desired.get(ME)?.get(WEB)?.tampered).toMatch(/spec does not match its hash/);
        expect(seen.damaged.has(ME)).toBe(false);
      }
      else expect(counted === "failed" ? web2?.failed : web2?.pending).toBe(1);
      if (counted === "failed") expect(status.devices[0]?.deployments[0]?.state).toBe("Rejected");
      expect(await running()).toBe(h2);
      // The accepted entry again: running and reported as before.
      await fleet.buckets.desired.put(KEY, v2);
      const back = await waitForReality(fleet, (x) => observed(x)?.phase === "Running" && observed(x)?.specHash === h2);
      expect(observed(back)?.phase).toBe("Running");
    };

    // Forged: the trusted key's name in the header, another key's signature.
    const other = generateSigningKey(new Date());
    const [otherSig] = signaturesOf(await entrySigner(other, { now: new Date(), ttlMs: DAY, plan: "forged", previous: () => v2json.sig.revision })([
      { device: ME, deployment: WEB, specHash: h2 },
    ]));
    const [head, payload] = v2json.sig.jws.split(".");
    const forged = { ...(otherSig as NonNullable<typeof otherSig>), jws: `${head}.${payload}.${(otherSig as NonNullable<typeof otherSig>).jws.split(".")[2]}` };
    await expectRejected(encodeDesiredValue(web("2"), h2, forged), /bad signature/, "failed");

    // Replay of the older, validly signed entry.
    await expectRejected(v1, /replay/, "pending");

    // Expired: signed two days ago for one day.
    const [expired] = signaturesOf(await entrySigner(key, { now: new Date(Date.now() - 2 * DAY), ttlMs: DAY, plan: "old", previous: () => v2json.sig.revision })([
      { device: ME, deployment: WEB, specHash: specHash(web("3")) },
    ]));
    await expectRejected(encodeDesiredValue(web("3"), specHash(web("3")), expired), /expired/, "pending");

    // Another device's validly signed entry copied under this device's key.
    const [foreign] = signaturesOf(await entrySigner(key, { now: new Date(), ttlMs: DAY, plan: "p", previous: () => undefined })([
      { device: "pi-02" as DeviceId, deployment: WEB, specHash: specHash(web("3")) },
    ]));
    await expectRejected(encodeDesiredValue(web("3"), specHash(web("3")), foreign), /device pi-02/, "pending");

    // Tampered: the spec changed, its hash and signature kept.
    const tampered = new TextEncoder().encode(new TextDecoder().decode(v2).replace("registry.local/web:2", "registry.local/web:evil"));
    await expectRejected(tampered, /spec does not match its hash/, "tampered");

    // Restart with the same state dir: the replay is still refused, and the accepted spec runs.
    await agent.stop();
    agent = await startAgent();
    await fleet.buckets.desired.put(KEY, v1);
    r = await waitForReality(fleet, (x) => observed(x)?.phase === "Rejected" && /replay/.test(observed(x)?.error ?? ""));
    expect(observed(r)?.error).toMatch(/replay/);
    await agent.ready;
    expect(await running()).toBe(h2);
    expect(logs.some((l) => l.includes("rejected:"))).toBe(true);
    // Two applies, five rejections each followed by a recovery, and an agent restart: each step waits for the agent's report.
  }, 120_000);

  it("fleet agent --trust refuses to start on a damaged accepted-revisions file, with one line naming it", () => {
    const trustFile = join(dir, "trust.json");
    writeFileSync(trustFile, encodeTrustStore(trust));
    const stateDir = join(dir, "damaged");
    rmSync(stateDir, { recursive: true, force: true });
    mkdirSync(stateDir, { recursive: true });
    const file = join(stateDir, "pi-09.accepted.json");
    writeFileSync(file, "{ not json");
    const keyFile = join(dir, "signing.json");
    writeFileSync(keyFile, encodeSigningKey(key));
    chmodSync(keyFile, 0o600);
    const r = spawnSync(process.execPath, [FLEET, "agent", "--device-id", "pi-09", "--nats", server.url, "--runtime", "simulated", "--trust", trustFile, "--state-dir", stateDir], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    const errorLines = r.stderr.split("\n").filter((l) => l.includes(file));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(/damaged/);
  });

  it("fleet apply's signing flags: a key from the flag or FLEET_SIGNING_KEY, NATS only, a TTL of 30d unless told", async () => {
    const keyFile = join(dir, "flags-signing.json");
    writeFileSync(keyFile, encodeSigningKey(key));
    chmodSync(keyFile, 0o600);
    const env = { FLEET_SIGNING_KEY: encodeSigningKey(key) };
    expect(await signingOf("apply", {}, "nats", {})).toBeUndefined();
    expect((await signingOf("apply", { "signing-key": keyFile }, "nats", {}))?.ttlMs).toBe(DEFAULT_SIGNATURE_TTL_MS);
    expect((await signingOf("apply", { "signature-ttl": "7d" }, "nats", env))?.key.kid).toBe(key.kid);
    expect((await signingOf("apply", { "signing-key": keyFile, "signature-ttl": "7d" }, "nats", {}))?.ttlMs).toBe(7 * DAY);
    // The variable is for NATS; other backends ignore it, but the flag is an error there.
    expect(await signingOf("apply", {}, "local", env)).toBeUndefined();
    await expect(signingOf("apply", { "signing-key": keyFile }, "local", {})).rejects.toThrow(/NATS backend only/);
    await expect(signingOf("apply", { "signature-ttl": "7d" }, "nats", {})).rejects.toThrow(/needs a signing key/);
    await expect(signingOf("apply", { "signing-key": keyFile, "signature-ttl": "soon" }, "nats", {})).rejects.toThrow(/--signature-ttl/);
    await expect(signingOf("apply", { "signing-key": join(dir, "missing.json") }, "nats", {})).rejects.toThrow(/does not exist/);
  });

  it("fleet apply --signing-key and an apply of a saved plan with FLEET_SIGNING_KEY publish entries the agent with --trust runs", async () => {
    agent ??= await startAgent();
    const ws = await workspace();
    try {
      const keyFile = join(ws.dir, "signing.json");
      writeFileSync(keyFile, encodeSigningKey(key));
      chmodSync(keyFile, 0o600);
      const file = (tag: string): string => `import { all, assign, deployment, podman, world } from "fleet-algebra";
export default world({ assignments: [assign(all, deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:${tag}" }] })))] });
`;
      await ws.write("v5.ts", file("5"));
      await ws.write("v6.ts", file("6"));
      const target = ["--backend", "nats", "--nats", server.url, "--no-typecheck"];
      const applied = await ws.fleet(["apply", ...target, "--auto-approve", "--signing-key", keyFile, "--signature-ttl", "1d", "v5.ts"]);
      expect(applied.code, applied.stderr).toBe(0);
      const r5 = await waitForReality(fleet, (x) => observed(x)?.phase === "Running" && observed(x)?.specHash === specHash(web("5")));
      expect(observed(r5)?.specHash).toBe(specHash(web("5")));
      expect(r5.desired.get(ME)?.get(WEB)?.revision).toBeGreaterThan(0);

      const planned = await ws.fleet(["plan", ...target, "--out", "plan.json", "v6.ts"]);
      expect(planned.code, planned.stderr).toBe(0);
      const saved = await ws.fleet(["apply", ...target, "plan.json"], { env: { FLEET_SIGNING_KEY: encodeSigningKey(key) } });
      expect(saved.code, saved.stderr).toBe(0);
      const r6 = await waitForReality(fleet, (x) => observed(x)?.phase === "Running" && observed(x)?.specHash === specHash(web("6")));
      expect(observed(r6)?.specHash).toBe(specHash(web("6")));
      expect(r6.desired.get(ME)?.get(WEB)?.revision).toBeGreaterThan(r5.desired.get(ME)?.get(WEB)?.revision ?? Infinity);
    } finally {
      await ws.cleanup();
    }
    // Two CLI applies (each a process start) and the agent running what each published.
  }, 120_000);
});
