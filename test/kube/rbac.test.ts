/**
 * The per-device RBAC of `fleet kube rbac`, applied to a real kube-apiserver:
 * device A's identity may read its Device and write its status, and is
 * denied everything on device B (and writes to desired state).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceUser } from "../../src/interpreters/kube/Rbac.ts";
import { API_VERSION } from "../../src/interpreters/kube/Crds.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { workspace, type Workspace } from "../cli/support.ts";
import { startCluster, type TestCluster } from "./cluster.ts";

let cluster: TestCluster;
let ws: Workspace;
let ns: string;
let dir: string;
const A = "pi-a" as DeviceId;
const B = "pi-b" as DeviceId;

const device = (id: string) => ({ apiVersion: API_VERSION, kind: "Device", metadata: { name: id, namespace: ns }, spec: { labels: { env: "test" } } });

beforeAll(async () => {
  cluster = await startCluster();
  ws = await workspace();
  dir = await mkdtemp(join(tmpdir(), "fleet-rbac-"));
  ns = await cluster.namespace("rbac");
  const k = await cluster.interpreter(ns);
  try {
    await k.installCrds();
  } finally {
    await k.close();
  }
  await cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [device(A), device(B)] }));
  for (const id of [A, B]) {
    const r = await ws.fleet(["kube", "rbac", "--device-id", id, "-n", ns]);
    expect(r.code).toBe(0);
    await cluster.kubectl(["apply", "-f", "-"], r.stdout);
  }
});

afterAll(async () => {
  await ws?.cleanup();
  await cluster?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** kubectl as the device's service account (impersonation: the server authorises as that user). */
const as = (id: DeviceId, args: ReadonlyArray<string>, input?: string) =>
  cluster.server.kubectl(["--as", deviceUser(ns, id), "-n", ns, ...args], input !== undefined ? { input } : {});

const statusBody = async (id: string, heartbeat: string): Promise<string> => {
  const path = join(dir, `${id}-status.json`);
  const current = JSON.parse(await cluster.kubectl(["get", "device", id, "-n", ns, "-o", "json"])) as Record<string, unknown>;
  await writeFile(path, JSON.stringify({ ...current, status: { lastHeartbeat: heartbeat } }));
  return path;
};

const statusUri = (id: string) => `/apis/${API_VERSION}/namespaces/${ns}/devices/${id}/status`;

describe("per-device RBAC on a real kube-apiserver", () => {
  it("device A reads its own Device and writes its own status", async () => {
    const get = await as(A, ["get", "device", A, "-o", "name"]);
    expect(get.stderr).toBe("");
    expect(get.code).toBe(0);
    const put = await as(A, ["replace", "--raw", statusUri(A), "-f", await statusBody(A, "2026-12-01T00:00:00Z")]);
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
    expect(await cluster.kubectl(["get", "device", A, "-n", ns, "-o", "jsonpath={.status.lastHeartbeat}"])).toBe("2026-12-01T00:00:00Z");
  });

  it("device A cannot read B, change B's status, change any desired state, or list every device", async () => {
    for (const args of [
      ["get", "device", B],
      ["replace", "--raw", statusUri(B), "-f", await statusBody(B, "2026-12-01T00:00:00Z")],
      ["patch", "device", A, "--type", "merge", "-p", JSON.stringify({ spec: { labels: { env: "forged" } } })],
      ["patch", "device", B, "--type", "merge", "-p", JSON.stringify({ spec: { labels: { env: "forged" } } })],
      ["delete", "device", B],
      ["get", "devices"],
      ["get", "fleetdeployments"],
    ]) {
      const r = await as(A, args);
      expect(r.code, `kubectl ${args.join(" ")}`).not.toBe(0);
      expect(r.stderr, `kubectl ${args.join(" ")}`).toMatch(/forbidden/i);
    }
    expect(await cluster.kubectl(["get", "device", B, "-n", ns, "-o", "jsonpath={.spec.labels.env}"])).toBe("test");
    expect(await cluster.kubectl(["get", "device", B, "-n", ns, "-o", "jsonpath={.status.lastHeartbeat}"])).toBe("");
  });
});
