/**
 * The kube-apiserver harness starts a real API server that accepts a CRD and a
 * custom object and serves them to kubectl. Creating the custom object is the
 * request that crashed the Debian build with its vendored reflect2 1.0.1 under
 * Go >= 1.18 (SIGSEGV), so passing here also proves the reflect2 replacement.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeApiServer, type KubeApiServer } from "./kube-apiserver.ts";

const GROUP = "harness.fleet-algebra.dev";
const CRD_NAME = `widgets.${GROUP}`;

const crd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: CRD_NAME },
  spec: {
    group: GROUP,
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                required: ["size"],
                properties: {
                  size: { type: "integer", minimum: 1 },
                  color: { type: "string" },
                  tags: { type: "object", additionalProperties: { type: "string" } },
                },
              },
            },
          },
        },
      },
    ],
  },
};

function widget(name: string, size: number) {
  return {
    apiVersion: `${GROUP}/v1`,
    kind: "Widget",
    metadata: { name, labels: { "fleet-algebra.dev/test": "harness" }, annotations: { note: "made by the harness test" } },
    // A map-valued field: encoding maps is where the old reflect2 read Go runtime internals.
    spec: { size, color: "teal", tags: { site: "lab", rack: "r1", slot: "7" } },
  };
}

describe("kube-apiserver harness", () => {
  let kube: KubeApiServer;

  beforeAll(async () => {
    kube = await startKubeApiServer();
  }, 120_000);

  afterAll(async () => {
    await kube?.stop();
  }, 60_000);

  it("serves on loopback with the admin token and rejects a wrong one", async () => {
    expect(kube.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(kube.server).not.toMatch(/:6443$/);

    const whoami = await kube.kubectl(["auth", "can-i", "create", "customresourcedefinitions.apiextensions.k8s.io"]);
    expect(whoami).toMatchObject({ code: 0 });
    expect(whoami.stdout.trim()).toBe("yes");

    const ns = await kube.kubectl(["get", "namespace", "default", "-o", "jsonpath={.status.phase}"]);
    expect(ns).toMatchObject({ code: 0, stdout: "Active" });

    const denied = await kube.kubectl(["--token=not-the-token", "get", "namespaces"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Unauthorized|must be logged in/i);
  });

  it("establishes a CustomResourceDefinition applied with kubectl", async () => {
    const file = join(kube.dataDir, "crd.json");
    await writeFile(file, JSON.stringify(crd));
    const applied = await kube.kubectl(["apply", "-f", file]);
    expect(applied.stderr).toBe("");
    expect(applied).toMatchObject({ code: 0 });
    expect(applied.stdout).toContain(`customresourcedefinition.apiextensions.k8s.io/${CRD_NAME} created`);

    const waited = await kube.kubectl(["wait", "--for=condition=Established", `crd/${CRD_NAME}`, "--timeout=60s"]);
    expect(waited).toMatchObject({ code: 0 });
    expect(waited.stdout).toContain("condition met");
  }, 90_000);

  it("creates custom objects (the reflect2 crash case) and lists them with kubectl get", async () => {
    const file = join(kube.dataDir, "widgets.json");
    await writeFile(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: [widget("w-one", 1), widget("w-two", 2)] }));
    // Freshly established CRDs can take a moment to appear in discovery; retry briefly.
    let created = await kube.kubectl(["apply", "-f", file]);
    for (let i = 0; i < 20 && created.code !== 0 && /no matches for kind|the server could not find/i.test(created.stderr); i++) {
      await new Promise((r) => setTimeout(r, 500));
      created = await kube.kubectl(["apply", "-f", file]);
    }
    // The apiserver survived the create (with reflect2 1.0.1 it dies here: SIGSEGV).
    expect(kube.crashed()).toBeUndefined();
    expect(created.stderr).toBe("");
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toContain(`widget.${GROUP}/w-one created`);
    expect(created.stdout).toContain(`widget.${GROUP}/w-two created`);

    const table = await kube.kubectl(["get", "widgets"]);
    expect(table).toMatchObject({ code: 0 });
    const rows = table.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^NAME\s+AGE$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual(["w-one", "w-two"]);

    const json = await kube.kubectl(["get", `widgets.${GROUP}`, "-l", "fleet-algebra.dev/test=harness", "-o", "json"]);
    expect(json).toMatchObject({ code: 0 });
    const list = JSON.parse(json.stdout) as { items: Array<{ metadata: Record<string, unknown>; spec: unknown }> };
    expect(list.items.map((o) => o.metadata["name"])).toEqual(["w-one", "w-two"]);
    expect(list.items[1]?.spec).toEqual({ size: 2, color: "teal", tags: { site: "lab", rack: "r1", slot: "7" } });
    for (const o of list.items) {
      expect(o.metadata["namespace"]).toBe("default");
      expect(o.metadata["uid"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(o.metadata["resourceVersion"])).toBeGreaterThan(0);
    }

    // The structural schema is enforced: a real apiserver, not a permissive store.
    const bad = await kube.kubectl(["apply", "-f", "-"], { input: JSON.stringify(widget("w-bad", 0)) });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec\.size.*should be greater than or equal to 1/);
  }, 90_000);

  it("stop() ends both processes and removes the data dir", async () => {
    const { pids, dataDir } = kube;
    expect(existsSync(dataDir)).toBe(true);
    await kube.stop();
    for (const pid of [pids.apiserver, pids.etcd]) {
      expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    }
    expect(existsSync(dataDir)).toBe(false);
    await kube.stop(); // idempotent
  }, 60_000);
});
