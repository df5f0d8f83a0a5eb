/**
 * `podmanRuntime` against a real podman (a private `podman system service`
 * per file, see test/support/podman.ts): deployments become containers that
 * serve pages over loopback, are replaced when their spec changes, left alone
 * when it does not, removed when unassigned; foreign containers are never
 * touched; failures are reported with podman's reason.
 */
import * as net from "node:net";
import { mkdtemp, mkdir, writeFile, chmod, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deployment, podman, specHash, type Deployment, type ServiceInput } from "../../src/algebra/Deployment.ts";
import { BackendUnavailableError, type ReadProblem } from "../../src/interpreters/Interpreter.ts";
import { podmanRuntime, type PodmanRuntime } from "../../src/interpreters/podman/index.ts";
import { CONTAINERS_CONF, TEST_PAGE, eventually, fetchPage, freePort, startPodman, type PodmanHarness } from "../support/podman.ts";

let h: PodmanHarness;
let site: string; // a host directory with a page and a CGI script, bind-mounted by some tests
const runtimes: PodmanRuntime[] = [];

beforeAll(async () => {
  h = await startPodman();
  site = await mkdtemp(path.join(os.tmpdir(), "fpm-site-"));
  await mkdir(path.join(site, "cgi-bin"));
  await writeFile(path.join(site, "index.html"), "from the host\n");
  await writeFile(path.join(site, "cgi-bin", "env"), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "GREETING=$GREETING"\n');
  await chmod(path.join(site, "cgi-bin", "env"), 0o755);
});

afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.close();
  await h.sweep();
});

afterAll(async () => {
  await h?.stop();
  if (site !== undefined) await rm(site, { recursive: true, force: true });
});

/** A runtime on this file's podman; a short stop timeout since busybox httpd as PID 1 ignores SIGTERM. */
const runtime = async (problems?: ReadProblem[]): Promise<PodmanRuntime> => {
  const r = await podmanRuntime({
    socket: h.socket,
    stopTimeoutSeconds: 1,
    ...(problems !== undefined ? { onProblem: (p: ReadProblem) => void problems.push(p) } : {}),
  });
  runtimes.push(r);
  return r;
};

const web = (name: string, port: number, extra: Partial<ServiceInput> = {}): Deployment =>
  deployment(name, podman({ services: [{ name: "httpd", image: h.image, ports: [{ container: 80, host: port, hostIp: "127.0.0.1" }], ...extra }] }));

const page = (port: number, p = "/"): Promise<string> => eventually(() => fetchPage(`http://127.0.0.1:${port}${p}`), 20_000, `a page on port ${port}`);

describe("podmanRuntime on real podman", () => {
  it("runs a deployment whose container serves a page on a published loopback port", async () => {
    const rt = await runtime();
    const port = await freePort();
    const d = web("site", port);
    const statuses = await rt.reconcile([d]);
    expect(statuses).toEqual([{ deployment: "site", phase: "Running", specHash: specHash(d) }]);
    expect(await page(port)).toBe(TEST_PAGE);
    const c = await h.inspect("fleet_site_httpd");
    expect(c?.state).toBe("running");
    expect(c?.labels).toMatchObject({
      "io.fleet-algebra.managed": "true",
      "io.fleet-algebra.deployment": "site",
      "io.fleet-algebra.service": "httpd",
      "io.fleet-algebra.spec-hash": specHash(d),
    });
    expect(await rt.status()).toEqual(statuses);
  });

  it("maps env, bind mounts, named volumes, ports, restart policy and command faithfully", async () => {
    const rt = await runtime();
    const port = await freePort();
    const udp = await freePort();
    const d = deployment(
      "mapped",
      podman({
        services: [
          {
            name: "httpd",
            image: h.image,
            env: { GREETING: "hello from env" },
            volumes: [
              { source: site, target: "/srv", readOnly: true },
              { source: "fleet-test-data", target: "/data" },
            ],
            ports: [
              { container: 8080, host: port, hostIp: "127.0.0.1" },
              { container: 5353, host: udp, hostIp: "127.0.0.1", protocol: "udp" },
            ],
            restart: "on-failure",
            command: ["httpd", "-f", "-p", "8080", "-h", "/srv"],
          },
        ],
      }),
    );
    expect((await rt.reconcile([d]))[0]?.phase).toBe("Running");
    // The command and the read-only bind mount: the host's page, served on 8080.
    expect(await page(port)).toBe("from the host\n");
    // The environment reaches the process (a CGI script from the bind mount echoes it).
    expect(await page(port, "/cgi-bin/env")).toContain("GREETING=hello from env");
    const r = await h.podman(["container", "inspect", "fleet_mapped_httpd"]);
    const [c] = JSON.parse(r.stdout) as Array<{
      HostConfig: { RestartPolicy: { Name: string }; PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> };
      Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; RW: boolean }>;
    }>;
    expect(c?.HostConfig.RestartPolicy.Name).toBe("on-failure");
    expect(c?.HostConfig.PortBindings).toEqual({
      "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }],
      "5353/udp": [{ HostIp: "127.0.0.1", HostPort: String(udp) }],
    });
    const mounts = [...(c?.Mounts ?? [])].sort((a, b) => (a.Destination < b.Destination ? -1 : 1));
    expect(mounts.map((m) => [m.Type, m.Destination, m.RW])).toEqual([
      ["volume", "/data", true],
      ["bind", "/srv", false],
    ]);
    expect(mounts[0]?.Name).toBe("fleet-test-data");
    // Read-only really is read-only inside the container.
    const w = await h.podman(["exec", "fleet_mapped_httpd", "sh", "-c", "echo x > /srv/x"]);
    expect(w.code).not.toBe(0);
  });

  it("replaces the container when the spec changes, and restarts nothing when it does not", async () => {
    const rt = await runtime();
    const port = await freePort();
    const v1 = web("site", port, { env: { V: "1" } });
    await rt.reconcile([v1]);
    await page(port);
    const first = await h.inspect("fleet_site_httpd");

    // Nothing changed: same container, same start time.
    expect(await rt.reconcile([v1])).toEqual([{ deployment: "site", phase: "Running", specHash: specHash(v1) }]);
    const same = await h.inspect("fleet_site_httpd");
    expect(same?.id).toBe(first?.id);
    expect(same?.startedAt).toBe(first?.startedAt);
    expect(same?.restartCount).toBe(0);

    // Changed: a new container with the new hash, serving again.
    const v2 = web("site", port, { env: { V: "2" } });
    expect(await rt.reconcile([v2])).toEqual([{ deployment: "site", phase: "Running", specHash: specHash(v2) }]);
    const replaced = await h.inspect("fleet_site_httpd");
    expect(replaced?.id).not.toBe(first?.id);
    expect(replaced?.labels["io.fleet-algebra.spec-hash"]).toBe(specHash(v2));
    expect(await page(port)).toBe(TEST_PAGE);
    expect(await h.containerNames()).toEqual(["fleet_site_httpd"]);
  });

  it("removes the containers of a deployment that is no longer desired", async () => {
    const rt = await runtime();
    const [p1, p2] = [await freePort(), await freePort()];
    await rt.reconcile([web("one", p1), web("two", p2)]);
    expect(await h.containerNames()).toEqual(["fleet_one_httpd", "fleet_two_httpd"]);
    expect(await rt.reconcile([web("two", p2)])).toEqual([expect.objectContaining({ deployment: "two", phase: "Running" })]);
    expect(await h.containerNames()).toEqual(["fleet_two_httpd"]);
    expect(await rt.reconcile([])).toEqual([]);
    expect(await h.containerNames()).toEqual([]);
  });

  it("never touches containers without the project's labels, and reports a name they hold", async () => {
    const problems: ReadProblem[] = [];
    const rt = await runtime(problems);
    const port = await freePort();
    const foreign = await h.podman(["run", "-d", "--name", "someone-elses", h.image, "sleep", "600"]);
    expect(foreign.code).toBe(0);
    // A container holding the name a deployment would get, without our labels.
    const squatter = await h.podman(["run", "-d", "--name", "fleet_taken_httpd", h.image, "sleep", "600"]);
    expect(squatter.code).toBe(0);
    // Labelled as managed, but with labels we cannot read: reported and left alone.
    const odd = await h.podman(["run", "-d", "--name", "odd", "--label", "io.fleet-algebra.managed=true", "--label", "io.fleet-algebra.deployment=Bad_Name", h.image, "sleep", "600"]);
    expect(odd.code).toBe(0);
    const before = await Promise.all(["someone-elses", "fleet_taken_httpd", "odd"].map((n) => h.inspect(n)));

    const statuses = await rt.reconcile([web("site", port), web("taken", await freePort())]);
    expect(statuses.find((s) => s.deployment === "site")?.phase).toBe("Running");
    const taken = statuses.find((s) => s.deployment === "taken");
    expect(taken?.phase).toBe("Failed");
    expect(taken?.error).toMatch(/service httpd: .*fleet_taken_httpd.*already in use/);
    expect(problems).toEqual([{ source: "podman", key: "odd", message: expect.stringContaining("not a valid deployment name") }]);

    await rt.reconcile([]);
    const after = await Promise.all(["someone-elses", "fleet_taken_httpd", "odd"].map((n) => h.inspect(n)));
    expect(after.map((c) => [c?.id, c?.state, c?.startedAt])).toEqual(before.map((c) => [c?.id, "running", c?.startedAt]));
    expect(await h.containerNames()).toEqual(["fleet_taken_httpd", "odd", "someone-elses"]);
  });

  it("reports a missing image as Failed with a clear message, and keeps the old version running", async () => {
    const problems: ReadProblem[] = [];
    const rt = await runtime(problems);
    const port = await freePort();
    const good = web("site", port);
    await rt.reconcile([good]);
    const before = await h.inspect("fleet_site_httpd");
    const missing = deployment("site", podman({ services: [{ name: "httpd", image: "localhost/fleet-test/missing:1", ports: [{ container: 80, host: port, hostIp: "127.0.0.1" }] }] }));
    const [s] = await rt.reconcile([missing]);
    expect(problems).toEqual([]); // the old container was kept, not a removal that failed
    expect(s).toMatchObject({ deployment: "site", phase: "Failed", specHash: specHash(missing) });
    expect(s?.error).toMatch(/^service httpd: image "localhost\/fleet-test\/missing:1" not found locally and could not be pulled: /);
    // The old container still serves: a spec that cannot run does not take the running one down.
    expect((await h.inspect("fleet_site_httpd"))?.id).toBe(before?.id);
    expect(await page(port)).toBe(TEST_PAGE);
    // status() keeps saying why.
    expect(await rt.status()).toEqual([s]);

    const never = await podmanRuntime({ socket: h.socket, pull: "never", stopTimeoutSeconds: 1 });
    runtimes.push(never);
    const [n] = await never.reconcile([deployment("other", podman({ services: [{ name: "x", image: "localhost/fleet-test/missing:2" }] }))]);
    expect(n).toMatchObject({ phase: "Failed", error: 'service x: image "localhost/fleet-test/missing:2" not found (pull policy "never")' });
  });

  it("reports a taken port as Failed, and starts the container once the port is free", async () => {
    const rt = await runtime();
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    try {
      const [s] = await rt.reconcile([web("site", port)]);
      expect(s?.phase).toBe("Failed");
      expect(s?.error).toMatch(/service httpd: .*address already in use/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    // Level-triggered: the next reconcile retries the start.
    expect((await rt.reconcile([web("site", port)]))[0]?.phase).toBe("Running");
    expect(await page(port)).toBe(TEST_PAGE);
  });

  it("a container that dies under restart: always comes back; one that exits under restart: no is Failed", async () => {
    const rt = await runtime();
    const port = await freePort();
    await rt.reconcile([web("site", port, { restart: "always" })]);
    await page(port);
    const before = await h.inspect("fleet_site_httpd");
    const r = await h.podman(["inspect", "--format", "{{.State.Pid}}", "fleet_site_httpd"]);
    process.kill(Number(r.stdout.trim()), "SIGKILL");
    const back = await eventually(async () => {
      const c = await h.inspect("fleet_site_httpd");
      return c !== undefined && c.restartCount >= 1 && c.state === "running" ? c : undefined;
    });
    expect(back.id).toBe(before?.id);
    expect(await page(port)).toBe(TEST_PAGE);
    expect((await rt.status())[0]?.phase).toBe("Running");

    const job = deployment("job", podman({ services: [{ name: "once", image: h.image, command: ["sh", "-c", "exit 3"], restart: "no" }] }));
    await rt.reconcile([web("site", port, { restart: "always" }), job]);
    const failed = await eventually(async () => (await rt.status()).find((s) => s.deployment === "job" && s.phase === "Failed"));
    expect(failed.error).toBe('service once exited with code 3 and restart policy "no" does not restart it');
    // Changing nothing leaves the exited job alone (its policy says no): not started again.
    const ended = await h.inspect("fleet_job_once");
    await rt.reconcile([web("site", port, { restart: "always" }), job]);
    const still = await h.inspect("fleet_job_once");
    expect([still?.id, still?.startedAt, still?.restartCount]).toEqual([ended?.id, ended?.startedAt, 0]);
    // podman says "stopped" until its cleanup has run, "exited" after.
    expect(["exited", "stopped"]).toContain(still?.state);
  });

  it("runs health checks without systemd: a passing check reports healthy, a failing one unhealthy, and podman records them", async () => {
    const rt = await runtime();
    const port = await freePort();
    // The test image serves a page on port 80: a check that fetches it passes; one that fetches a missing page fails.
    const good = web("good", port, { healthcheck: { command: "wget -q -O /dev/null http://127.0.0.1/", interval: 1, retries: 2 } });
    const bad = deployment(
      "bad",
      podman({ services: [{ name: "httpd", image: h.image, healthcheck: { command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/missing"], interval: 1, retries: 2 } }] }),
    );
    const first = await rt.reconcile([good, bad]);
    // Nothing has been checked yet: started is not healthy.
    expect(first.map((s) => [s.deployment, s.phase, s.health])).toEqual([
      ["bad", "Running", "starting"],
      ["good", "Running", "starting"],
    ]);
    const settled = await eventually(async () => {
      const st = await rt.status();
      return st.map((s) => s.health).join() === "unhealthy,healthy" ? st : undefined;
    }, 30_000, "both verdicts");
    expect(settled.map((s) => [s.deployment, s.phase, s.specHash, s.health])).toEqual([
      ["bad", "Running", specHash(bad), "unhealthy"],
      ["good", "Running", specHash(good), "healthy"],
    ]);
    // podman made the containers with the check, and keeps the verdicts itself (what `podman ps` shows).
    const cfg = await h.podman(["inspect", "--format", "{{json .Config.Healthcheck}}", "fleet_good_httpd"]);
    expect(JSON.parse(cfg.stdout)).toMatchObject({ Test: ["CMD", "/bin/sh", "-c", "wget -q -O /dev/null http://127.0.0.1/"], Interval: 1e9, Retries: 2 });
    const verdict = await h.podman(["inspect", "--format", "{{.State.Health.Status}}", "fleet_bad_httpd"]);
    expect(verdict.stdout.trim()).toBe("unhealthy");
  });

  it("a deployment without a health check reports no health", async () => {
    const rt = await runtime();
    const [s] = await rt.reconcile([web("plain", await freePort())]);
    expect(s !== undefined && "health" in s).toBe(false);
  });

  it("status() before any reconcile reads the deployments from the containers' labels", async () => {
    const port = await freePort();
    const d = web("site", port);
    await (await runtime()).reconcile([d]);
    const fresh = await runtime();
    expect(await fresh.status()).toEqual([{ deployment: "site", phase: "Running", specHash: specHash(d) }]);
  });

  it("an unreachable podman service is one clear error", async () => {
    const socket = `unix://${path.join(h.dir, "nobody-here.sock")}`;
    const err = await podmanRuntime({ socket }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const message = (err as Error).message;
    expect(message).toContain(`podman service not reachable at ${socket}`);
    expect(message).toContain("podman system service --time=0");
    expect(message).not.toContain("\n");
  });

  it("starts its own podman service only when asked, and stops it on close", async () => {
    const socket = `unix://${path.join(h.dir, "own", "podman.sock")}`;
    await expect(podmanRuntime({ socket })).rejects.toBeInstanceOf(BackendUnavailableError);
    const rt = await podmanRuntime({ socket, startService: true, containersConf: CONTAINERS_CONF, podmanArgs: h.globalArgs, stopTimeoutSeconds: 1 });
    const port = await freePort();
    expect((await rt.reconcile([web("own", port)]))[0]?.phase).toBe("Running");
    expect(await page(port)).toBe(TEST_PAGE);
    await rt.reconcile([]);
    await rt.close();
    // Its service is gone, and with it any way to reach the socket.
    await expect(podmanRuntime({ socket })).rejects.toBeInstanceOf(BackendUnavailableError);
  });

  it("a service that goes away mid-run turns calls into BackendUnavailableError", async () => {
    const socket = `unix://${path.join(h.dir, "brief", "podman.sock")}`;
    const rt = await podmanRuntime({ socket, startService: true, containersConf: CONTAINERS_CONF, podmanArgs: h.globalArgs });
    const other = await podmanRuntime({ socket });
    await rt.close(); // stops the service `other` talks to
    await expect(other.reconcile([])).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(other.status()).rejects.toThrow(/podman service not reachable at/);
    await other.close();
  });
});
