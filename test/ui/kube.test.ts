/**
 * `fleet ui --backend kube` against a real kube-apiserver: the JSON API shows
 * the demo fleet applied to a namespace (its own cluster, own namespace).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Workspace } from "../cli/support.ts";
import { startCluster, type TestCluster } from "../kube/cluster.ts";
import { demoWorkspace, startUi, type Ui } from "./support.ts";

let cluster: TestCluster;
let ws: Workspace;
let ui: Ui;

const get = async (path: string): Promise<Record<string, unknown>> => (await (await fetch(new URL(path, ui.url))).json()) as Record<string, unknown>;

beforeAll(async () => {
  cluster = await startCluster();
  ws = await demoWorkspace();
  const k = cluster.server.kubeconfigPath;
  const crds = await ws.fleet(["kube", "install-crds", "--kubeconfig", k]);
  expect(crds.code, crds.stderr).toBe(0);
  const ns = await cluster.namespace("ui");
  const kube = ["--backend", "kube", "--kubeconfig", k, "-n", ns];
  const applied = await ws.fleet(["apply", "--auto-approve", "--no-typecheck", ...kube, "demo.ts"]);
  expect(applied.code, applied.stderr).toBe(0);
  ui = await startUi(ws.dir, ["--no-typecheck", ...kube, "demo.ts"]);
});

afterAll(async () => {
  if (ui !== undefined) await ui.stop();
  await ws?.cleanup();
  await cluster?.stop();
});

describe("fleet ui on the Kubernetes backend", () => {
  it("serves status, devices by selector, an explanation and the plan from the cluster", async () => {
    const status = await get("/api/status");
    expect(String(status["backend"])).toMatch(/^kube /);
    expect((status["deployments"] as ReadonlyArray<{ deployment: string; matched: number }>).map((d) => [d.deployment, d.matched])).toEqual([
      ["metrics", 5],
      ["web", 4],
    ]);
    const devices = await get("/api/devices?selector=%40arch%3Dx86_64");
    expect((devices["devices"] as ReadonlyArray<{ id: string }>).map((d) => d.id)).toEqual(["nuc-01", "vm-01"]);
    const nuc = await get("/api/devices/nuc-01");
    expect((nuc["desired"] as ReadonlyArray<{ deployment: string; assignment: string }>).map((d) => [d.deployment, d.assignment])).toEqual([
      ["metrics", "lab-metrics"],
      ["web", "south-canary"],
    ]);
    expect((await get("/api/plan"))["summary"]).toMatchObject({ create: 0, update: 0, delete: 0 });
  });
});
