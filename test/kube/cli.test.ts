/**
 * `fleet kube …` and `fleet plan/apply --backend kube` as a user runs them
 * (the real binary, a child process) against a real kube-apiserver.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { fleetFile, workspace, type Workspace } from "../cli/support.ts";
import { startCluster, table, type TestCluster } from "./cluster.ts";
import { freePort, removeTempDir, tempDir } from "../support/processes.ts";

let cluster: TestCluster;
let ws: Workspace;
beforeAll(async () => {
  cluster = await startCluster();
  ws = await workspace();
});
afterAll(async () => {
  await ws?.cleanup();
  await cluster?.stop();
});

const oneLineError = (stderr: string, pattern: RegExp): void => {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/^\s+at /m);
};

describe("fleet kube", () => {
  it("print-crds writes CRDs the server accepts as YAML and as a JSON List; install-crds upgrades them and waits", async () => {
    const yaml = await ws.fleet(["kube", "print-crds"]);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout.match(/^kind: CustomResourceDefinition$/gm)).toHaveLength(2);
    expect(await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], yaml.stdout)).toMatch(/devices\.fleet-algebra\.dev created \(server dry run\)/);
    const json = await ws.fleet(["kube", "print-crds", "-o", "json"]);
    expect(await cluster.kubectl(["apply", "-f", "-"], json.stdout)).toMatch(/fleetdeployments\.fleet-algebra\.dev created/);

    const k = cluster.server.kubeconfigPath;
    const installed = await ws.fleet(["kube", "install-crds", "--kubeconfig", k]);
    expect(installed.stderr).toBe("");
    expect(installed.code).toBe(0);
    expect(installed.stdout.trim()).toBe(`Installed devices.fleet-algebra.dev, fleetdeployments.fleet-algebra.dev (Established) on ${cluster.server.server}`);
  });

  it("with no cluster configured, fails loudly in one line (never falls back to localhost:8080)", async () => {
    const home = await tempDir("nohome");
    onTestFinished(() => removeTempDir(home));
    const r = await ws.fleet(["kube", "install-crds"], { env: { KUBECONFIG: undefined, HOME: home, KUBERNETES_SERVICE_HOST: undefined } });
    expect(r.code).toBe(1);
    oneLineError(r.stderr, /^Error: no Kubernetes cluster configured: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/);
    const plan = await ws.fleet(["plan", "--no-typecheck", "--backend", "kube", await ws.write("none.ts", fleetFile())], { env: { KUBECONFIG: undefined, HOME: home } });
    expect(plan.code).toBe(1);
    oneLineError(plan.stderr, /no Kubernetes cluster configured/);
  });

  it("with a server that is not there, says which one in one line", async () => {
    const port = await freePort();
    const dir = await tempDir("kc");
    onTestFinished(() => removeTempDir(dir));
    const kc = join(dir, "config");
    await writeFile(
      kc,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "gone", cluster: { server: `https://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "gone", context: { cluster: "gone", user: "u" } }],
        "current-context": "gone",
      }),
    );
    const r = await ws.fleet(["kube", "install-crds", "--kubeconfig", kc]);
    expect(r.code).toBe(1);
    oneLineError(r.stderr, new RegExp(`^Error: cannot reach the Kubernetes API server at https://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it("plan, apply and sync-status with --backend kube; kubectl shows the fleet", async () => {
    const ns = await cluster.namespace("cli");
    const file = await ws.write("fleet.ts", fleetFile({ devices: 2 }));
    const kube = ["--backend", "kube", "--kubeconfig", cluster.server.kubeconfigPath, "-n", ns];
    const applied = await ws.fleet(["apply", "--auto-approve", "--no-typecheck", ...kube, file]);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    const again = await ws.fleet(["plan", "--no-typecheck", "--detailed-exitcode", ...kube, file]);
    expect(again.code).toBe(0);
    // apply publishes the World's FleetDeployments itself (Interpreter.publishWorld)
    const published = table(await cluster.kubectl(["get", "fleetdeployments", "-n", ns]));
    expect(published.map((f) => f["NAME"])).toEqual(["metrics", "web"]);

    const synced = await ws.fleet(["kube", "sync-status", "--kubeconfig", cluster.server.kubeconfigPath, "-n", ns, file]);
    expect(synced.stderr).toBe("");
    expect(synced.stdout.trim()).toBe(`FleetDeployments in ${ns}: 2 written, 0 deleted`);
    const fds = table(await cluster.kubectl(["get", "fleetdeployments", "-n", ns, "-o", "wide"]));
    // The declared devices never registered: published, but offline.
    expect(fds.map((f) => [f["NAME"], f["SELECTOR"], f["MATCHED"], f["PUBLISHED"], f["OFFLINE"]])).toEqual([
      ["metrics", "@all", "3", "3", "3"],
      ["web", "env=prod", "2", "2", "2"],
    ]);
    const devices = table(await cluster.kubectl(["get", "devices", "-n", ns]));
    expect(devices.map((d) => [d["NAME"], d["DEPLOYMENTS"]])).toEqual([
      ["nuc-01", "metrics"],
      ["pi-01", "metrics,web"],
      ["pi-02", "metrics,web"],
    ]);
  });
});
