/**
 * `podmanBackend` with the pure diff: a World applied to this host's real
 * podman (a private service, test/support/podman.ts). plan -> apply -> plan
 * is empty; updates replace, removals remove; stale plans are refused whole;
 * actions for other devices and failed creates are reported per action.
 */
import { createServer } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import { device } from "../../src/algebra/Device.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import type { Plan } from "../../src/diff/Plan.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import { BackendUnavailableError } from "../../src/interpreters/Interpreter.ts";
import { podmanBackend, type PodmanBackend } from "../../src/interpreters/podman/index.ts";
import { TEST_PAGE, eventually, fetchPage, freePort, startPodman, type PodmanHarness } from "../support/podman.ts";

let h: PodmanHarness;
const backends: PodmanBackend[] = [];

beforeAll(async () => {
  h = await startPodman();
});
afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
  await h.sweep();
});
afterAll(async () => {
  await h?.stop();
});

const backend = async (): Promise<PodmanBackend> => {
  const b = await podmanBackend({ socket: h.socket, deviceId: "edge-1", labels: { role: "web" }, arch: "x86_64", stopTimeoutSeconds: 1 });
  backends.push(b);
  return b;
};

const site = (port: number, version: string): Deployment =>
  deployment(
    "site",
    podman({ services: [{ name: "httpd", image: h.image, env: { VERSION: version }, ports: [{ container: 80, host: port, hostIp: "127.0.0.1" }], restart: "always" }] }),
  );

/** A World with no declared fleet: the backend's one device (labels from its options) is the fleet. */
const assigning = (...ds: Deployment[]): World => world({ assignments: ds.length === 0 ? [] : [assign(label("role", "web"), ds, { name: "web-hosts" })] });

const plan = async (b: PodmanBackend, w: World): Promise<Plan> => {
  const { reality, problems } = await b.read();
  expect(problems).toEqual([]);
  return diff(w, reality, { now: new Date() });
};

const page = (port: number): Promise<string> => eventually(() => fetchPage(`http://127.0.0.1:${port}/`), 20_000, `a page on ${port}`);

describe("podmanBackend with diff and apply", () => {
  it("reports this host as the only device, online, with its labels and arch", async () => {
    const b = await backend();
    const { reality } = await b.read();
    expect([...reality.devices.keys()]).toEqual(["edge-1"]);
    const r = reality.devices.get("edge-1" as DeviceId);
    expect(r?.device).toMatchObject({ id: "edge-1", labels: { role: "web" }, arch: "x86_64", inventory: expect.objectContaining({ podman: expect.any(String) }) });
    expect(Math.abs((r?.lastHeartbeat?.getTime() ?? 0) - Date.now())).toBeLessThan(10_000);
    expect(reality.desired.size).toBe(0);
  });

  it("plan -> apply -> plan is empty; the deployment serves its page and is observed Running", async () => {
    const b = await backend();
    const port = await freePort();
    const w = assigning(site(port, "1"));
    const p1 = await plan(b, w);
    expect(p1.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`)).toEqual(["Create edge-1.site"]);
    const result = await b.apply(p1);
    expect(result._tag).toBe("Completed");
    if (result._tag !== "Completed") return;
    expect(result.outcomes).toEqual([expect.objectContaining({ _tag: "Applied", fingerprint: expect.any(String) })]);
    expect(await page(port)).toBe(TEST_PAGE);

    expect((await plan(b, w)).actions).toEqual([]);
    const { reality } = await b.read();
    const entry = reality.desired.get("edge-1" as DeviceId)?.get("site" as DeploymentName);
    expect(entry).toMatchObject({ specHash: specHash(site(port, "1")) });
    expect(result.outcomes[0]?._tag === "Applied" && result.outcomes[0].fingerprint).toBe(entry?.fingerprint);
    expect(reality.observed.get("edge-1" as DeviceId)?.get("site" as DeploymentName)).toMatchObject({ phase: "Running", specHash: specHash(site(port, "1")) });

    // A second apply of the same World changes nothing at all.
    const before = await h.inspect("fleet_site_httpd");
    expect(await b.apply(await plan(b, w))).toEqual({ _tag: "Completed", outcomes: [] });
    expect((await h.inspect("fleet_site_httpd"))?.startedAt).toBe(before?.startedAt);
  });

  it("an Update replaces the container; a Delete removes it; foreign containers stay", async () => {
    const b = await backend();
    const port = await freePort();
    const foreign = await h.podman(["run", "-d", "--name", "not-ours", h.image, "sleep", "600"]);
    expect(foreign.code).toBe(0);
    await b.apply(await plan(b, assigning(site(port, "1"))));
    const v1 = await h.inspect("fleet_site_httpd");

    const p2 = await plan(b, assigning(site(port, "2")));
    expect(p2.actions.map((a) => a._tag)).toEqual(["Update"]);
    expect(await b.apply(p2)).toMatchObject({ _tag: "Completed", outcomes: [{ _tag: "Applied" }] });
    const v2 = await h.inspect("fleet_site_httpd");
    expect(v2?.id).not.toBe(v1?.id);
    expect(v2?.labels["io.fleet-algebra.spec-hash"]).toBe(specHash(site(port, "2")));
    expect(await page(port)).toBe(TEST_PAGE);
    expect((await plan(b, assigning(site(port, "2")))).actions).toEqual([]);

    const p3 = await plan(b, assigning());
    expect(p3.actions.map((a) => a._tag)).toEqual(["Delete"]);
    expect(await b.apply(p3)).toMatchObject({ _tag: "Completed", outcomes: [{ _tag: "Applied" }] });
    expect(await h.containerNames()).toEqual(["not-ours"]);
    expect((await plan(b, assigning())).actions).toEqual([]);
  });

  it("refuses a stale plan as a whole, writing nothing", async () => {
    const b = await backend();
    const [p1, p2] = [await freePort(), await freePort()];
    const old = await plan(b, assigning(site(p1, "1")));
    // Someone else applies first.
    await b.apply(await plan(b, assigning(site(p2, "other"))));
    const before = await h.inspect("fleet_site_httpd");
    const result = await b.apply(old);
    expect(result).toMatchObject({ _tag: "Stale", stale: [{ device: "edge-1", deployment: "site", expected: null, found: expect.any(String) }] });
    const after = await h.inspect("fleet_site_httpd");
    expect([after?.id, after?.startedAt]).toEqual([before?.id, before?.startedAt]);
  });

  it("an action for another device fails with a clear error; the others still run", async () => {
    const b = await backend();
    const port = await freePort();
    const w = world({
      fleet: [device("edge-1", { labels: { role: "web" }, arch: "x86_64" }), device("edge-2", { labels: { role: "web" } })],
      assignments: [assign(label("role", "web"), site(port, "1"))],
    });
    const p = await plan(b, w);
    expect(p.actions.map((a) => a.device)).toEqual(["edge-1", "edge-2"]);
    const result = await b.apply(p);
    expect(result._tag).toBe("Completed");
    if (result._tag !== "Completed") return;
    expect(result.outcomes.map((o) => o._tag)).toEqual(["Applied", "Failed"]);
    expect(result.outcomes[1]).toMatchObject({ error: 'device "edge-2" is not this host: the podman backend runs deployments on "edge-1" only' });
  });

  it("a Create that fails leaves nothing behind, so the next plan retries it", async () => {
    const b = await backend();
    const port = await freePort();
    // The host port is taken by another process (two services of the fleet binding it would be a
    // conflict the diff reports before apply), so the container cannot start.
    const broken = deployment("broken", podman({ services: [{ name: "a", image: h.image, ports: [{ container: 80, host: port, hostIp: "127.0.0.1" }] }] }));
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      const p = await plan(b, assigning(broken));
      const result = await b.apply(p);
      expect(result).toMatchObject({ _tag: "Completed", outcomes: [{ _tag: "Failed", error: expect.stringMatching(/address already in use/) }] });
      expect(await h.containerNames()).toEqual([]);
      expect((await plan(b, assigning(broken))).actions.map((a) => a._tag)).toEqual(["Create"]);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }

    const missing = deployment("gone", podman({ services: [{ name: "x", image: "docker.io/library/fleet-test-missing:1" }] }));
    const r2 = await b.apply(await plan(b, assigning(missing)));
    expect(r2).toMatchObject({
      _tag: "Completed",
      outcomes: [{ _tag: "Failed", error: expect.stringMatching(/^service x: image "docker.io\/library\/fleet-test-missing:1" not found locally and could not be pulled: /) }],
    });
    expect(await h.containerNames()).toEqual([]);
  });

  it("a deployment missing one of its service containers is planned as an Update that repairs it", async () => {
    const b = await backend();
    const [p1, p2] = [await freePort(), await freePort()];
    const two = deployment(
      "pair",
      podman({
        services: [
          { name: "a", image: h.image, ports: [{ container: 80, host: p1, hostIp: "127.0.0.1" }] },
          { name: "b", image: h.image, ports: [{ container: 80, host: p2, hostIp: "127.0.0.1" }] },
        ],
      }),
    );
    await b.apply(await plan(b, assigning(two)));
    expect(await h.containerNames()).toEqual(["fleet_pair_a", "fleet_pair_b"]);
    expect((await h.podman(["rm", "--force", "--time", "0", "fleet_pair_b"])).code).toBe(0);
    const { reality } = await b.read();
    expect(reality.observed.get("edge-1" as DeviceId)?.get("pair" as DeploymentName)?.phase).toBe("Pending");
    const repair = await plan(b, assigning(two));
    expect(repair.actions.map((a) => a._tag)).toEqual(["Update"]);
    await b.apply(repair);
    expect(await h.containerNames()).toEqual(["fleet_pair_a", "fleet_pair_b"]);
    expect((await plan(b, assigning(two))).actions).toEqual([]);
    expect(await page(p2)).toBe(TEST_PAGE);
  });

  it("an unreachable podman is one clear error", async () => {
    await expect(podmanBackend({ socket: `unix://${h.dir}/none.sock` })).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(podmanBackend({ socket: `unix://${h.dir}/none.sock` })).rejects.toThrow(/^podman service not reachable at unix:\/\/.*none\.sock \(ENOENT\)/);
  });

  it("the default device id is the host name made a DNS label", async () => {
    const b = await podmanBackend({ socket: h.socket });
    backends.push(b);
    expect(b.device.id).toMatch(/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(b.device.arch).toMatch(/^(x86_64|aarch64|armv7l|[a-z0-9_]+)$/);
  });
});
