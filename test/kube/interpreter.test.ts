/**
 * The Kubernetes interpreter against a real kube-apiserver 1.20: CRDs,
 * server-side apply, conflicts with other field managers, staleness, status,
 * and what kubectl shows. Each test works in its own namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import { diff } from "../../src/diff/Diff.ts";
import type { Plan } from "../../src/diff/Plan.ts";
import { arch, deviceIds, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import type { ActionOutcome, ApplyResult } from "../../src/interpreters/Interpreter.ts";
import type { KubeInterpreter } from "../../src/interpreters/kube/index.ts";
import { makeApi } from "../../src/interpreters/kube/Api.ts";
import { resolveCluster } from "../../src/interpreters/kube/Cluster.ts";
import { DEVICE, FLEET_DEPLOYMENT, crds } from "../../src/interpreters/kube/Crds.ts";
import { startCluster, table, type TestCluster } from "./cluster.ts";

const web = (image: string): Deployment =>
  deployment("web", podman({ services: [{ name: "httpd", image, ports: [{ container: 80, host: 8080 }] }] }));
const metrics = deployment("metrics", podman({ services: [{ name: "exporter", image: "registry.local/exporter:1" }] }));
const extra = deployment("extra", podman({ services: [{ name: "sidecar", image: "registry.local/sidecar:1" }] }));

const fleet = [
  device("pi-01", { labels: { env: "prod", site: "north" }, arch: "aarch64", agentVersion: "0.3.1" }),
  device("pi-02", { labels: { env: "prod", site: "south" }, arch: "aarch64", agentVersion: "0.3.1" }),
  device("nuc-01", { labels: { env: "dev" }, arch: "x86_64", agentVersion: "0.3.0" }),
];

const v1 = world({ assignments: [assign(label("env", "prod"), web("registry.local/web:1")), assign(arch("aarch64"), metrics)] });
const v2 = world({
  assignments: [
    assign(label("env", "prod"), web("registry.local/web:2")),
    assign(label("site", "north"), metrics),
    assign(label("env", "dev"), web("registry.local/web:1")),
  ],
});
const nothing = world({ assignments: [] });

const outcomesOf = (r: ApplyResult): ReadonlyArray<ActionOutcome> => {
  if (r._tag !== "Completed") throw new Error(`expected Completed, got ${JSON.stringify(r)}`);
  return r.outcomes;
};
const summary = (r: ApplyResult): string[] =>
  outcomesOf(r).map((o) => `${o._tag} ${o.action._tag} ${o.action.device}.${o.action.deployment}${o._tag === "Failed" ? `: ${o.error}` : ""}`);

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

const planFor = async (i: KubeInterpreter, w: World): Promise<Plan> => {
  const r = await i.read();
  expect(r.problems).toEqual([]);
  return diff(w, r.reality, { now: new Date() });
};
const converge = async (i: KubeInterpreter, w: World): Promise<void> => {
  const p = await planFor(i, w);
  const r = await i.apply(p);
  expect(outcomesOf(r).filter((o) => o._tag === "Failed")).toEqual([]);
  expect((await planFor(i, w)).actions).toEqual([]);
};

describe("CRDs", () => {
  // First in the file: the server has no CRDs yet.
  it("reading before the CRDs exist gives an empty Reality; the first apply installs them", async () => {
    expect((await cluster.server.kubectl(["get", "crd", "devices.fleet-algebra.dev"])).code).not.toBe(0);
    const ns = await cluster.namespace("first");
    const i = await cluster.interpreter(ns);
    const r = await i.read();
    expect(r.problems).toEqual([]);
    expect(r.reality.desired.size).toBe(0);
    const p = diff(world({ fleet, assignments: v1.assignments }), r.reality, { now: new Date() });
    expect(p.actions.length).toBe(4);
    expect(summary(await i.apply(p)).every((s) => s.startsWith("Applied"))).toBe(true);
    for (const name of ["devices.fleet-algebra.dev", "fleetdeployments.fleet-algebra.dev"])
      expect(await cluster.kubectl(["get", "crd", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"])).toBe("True");
  });

  it("install-crds is idempotent and registers kinds, short names and the fleet category", async () => {
    const i = await cluster.interpreter("default");
    expect(await i.installCrds()).toEqual(["devices.fleet-algebra.dev", "fleetdeployments.fleet-algebra.dev"]);
    expect(await i.installCrds()).toEqual(["devices.fleet-algebra.dev", "fleetdeployments.fleet-algebra.dev"]);
    const rows = table(await cluster.kubectl(["api-resources", "--api-group=fleet-algebra.dev"]));
    expect(rows.map((r) => [r["NAME"], r["SHORTNAMES"], r["NAMESPACED"], r["KIND"]])).toEqual([
      ["devices", "fdev", "true", "Device"],
      ["fleetdeployments", "fdep", "true", "FleetDeployment"],
    ]);
  });

  it("an outdated or hand-edited CRD is upgraded by the next apply", async () => {
    await cluster.kubectl(["annotate", "--overwrite", "crd", "devices.fleet-algebra.dev", "fleet-algebra.dev/definition-hash=sha256:old"]);
    await cluster.kubectl(["patch", "crd", "devices.fleet-algebra.dev", "--type=json", "-p", JSON.stringify([{ op: "remove", path: "/spec/versions/0/additionalPrinterColumns" }])]);
    const ns = await cluster.namespace("upgrade");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    const got = JSON.parse(await cluster.kubectl(["get", "crd", "devices.fleet-algebra.dev", "-o", "json"])) as {
      metadata: { annotations: Record<string, string> };
      spec: { versions: Array<{ additionalPrinterColumns?: unknown[] }> };
    };
    const ours = crds()[0] as { metadata: { annotations: Record<string, string> } };
    expect(got.metadata.annotations["fleet-algebra.dev/definition-hash"]).toBe(ours.metadata.annotations["fleet-algebra.dev/definition-hash"]);
    expect(got.spec.versions[0]?.additionalPrinterColumns?.length).toBe(6);
  });
});

describe("applying Worlds", () => {
  it("creates Device and FleetDeployment objects that kubectl shows with their printer columns", async () => {
    const ns = await cluster.namespace("show");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    const sync = await i.syncStatus(v1);
    expect(sync).toEqual({ written: 2, deleted: 0, problems: [] });

    const devices = table(await cluster.kubectl(["get", "devices", "-n", ns, "-o", "wide"]));
    expect(devices.map((d) => [d["NAME"], d["ARCH"], d["DEPLOYMENTS"], d["AGENT"]])).toEqual([
      ["nuc-01", "x86_64", "", "0.3.0"],
      ["pi-01", "aarch64", "metrics,web", "0.3.1"],
      ["pi-02", "aarch64", "metrics,web", "0.3.1"],
    ]);
    for (const d of devices) expect(d["HEARTBEAT"]).toMatch(/^\d+s$/);

    const fds = table(await cluster.kubectl(["get", "fleetdeployments", "-n", ns, "-o", "wide"]));
    expect(fds.map((f) => [f["NAME"], f["SELECTOR"], f["MATCHED"], f["PUBLISHED"], f["SUCCEEDED"], f["FAILED"], f["PENDING"], f["OFFLINE"]])).toEqual([
      ["metrics", "@arch=aarch64", "2", "2", "0", "0", "2", "0"],
      ["web", "env=prod", "2", "2", "0", "0", "2", "0"],
    ]);

    // The `fleet` category lists both kinds; device labels select as the fleet does.
    const both = await cluster.kubectl(["get", "fleet", "-n", ns, "-o", "name"]);
    expect(both.trim().split("\n").sort()).toEqual([
      "device.fleet-algebra.dev/nuc-01",
      "device.fleet-algebra.dev/pi-01",
      "device.fleet-algebra.dev/pi-02",
      "fleetdeployment.fleet-algebra.dev/metrics",
      "fleetdeployment.fleet-algebra.dev/web",
    ]);
    const ls = JSON.parse(await cluster.kubectl(["get", "fleetdeployment", "web", "-n", ns, "-o", "jsonpath={.spec.labelSelector}"])) as { matchLabels: Record<string, string> };
    expect(ls).toEqual({ matchLabels: { env: "prod" } });
    const selected = await cluster.kubectl(["get", "devices", "-n", ns, "-l", "env=prod", "-o", "name"]);
    expect(selected.trim().split("\n")).toEqual(["device.fleet-algebra.dev/pi-01", "device.fleet-algebra.dev/pi-02"]);
    // metrics goes by arch: no LabelSelector can say that.
    expect(await cluster.kubectl(["get", "fleetdeployment", "metrics", "-n", ns, "-o", "jsonpath={.spec.labelSelector}"])).toBe("");
  });

  it("changes and deletions converge: plan, apply, plan is empty; nothing is left behind", async () => {
    const ns = await cluster.namespace("converge");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    const p2 = await planFor(i, v2);
    expect(new Set(p2.actions.map((a) => a._tag))).toEqual(new Set(["Create", "Update", "Delete"]));
    await converge(i, v2);
    const r = (await i.read()).reality;
    expect(r.desired.get(fleet[2]!.id)?.get(web("x").name)?.specHash).toBe(specHash(web("registry.local/web:1")));
    await converge(i, nothing);
    expect([...(await i.read()).reality.desired.keys()]).toEqual([]);
    // Registered devices keep their objects; their entries are gone.
    const devices = table(await cluster.kubectl(["get", "devices", "-n", ns]));
    expect(devices.map((d) => [d["NAME"], d["DEPLOYMENTS"]])).toEqual([
      ["nuc-01", ""],
      ["pi-01", ""],
      ["pi-02", ""],
    ]);
  });

  it("a declared device that never registered gets a Device with desired state only, removed once it holds nothing", async () => {
    const ns = await cluster.namespace("ghost");
    const i = await cluster.interpreter(ns);
    const ghost = device("ghost-01", { labels: { env: "prod" }, arch: "aarch64" });
    const declared = (w: World) => world({ fleet: [ghost], assignments: w.assignments });
    await converge(i, declared(v1));
    const r = (await i.read()).reality;
    expect(r.devices.has(ghost.id)).toBe(false);
    expect([...(r.desired.get(ghost.id)?.keys() ?? [])].sort()).toEqual(["metrics", "web"]);
    expect(table(await cluster.kubectl(["get", "devices", "-n", ns])).map((d) => [d["NAME"], d["ARCH"], d["DEPLOYMENTS"]])).toEqual([["ghost-01", "", "metrics,web"]]);
    await converge(i, declared(nothing));
    expect((await cluster.kubectl(["get", "devices", "-n", ns, "-o", "name"])).trim()).toBe("");
  });

  it("empty label values register and select as in the fleet (needs a test server built without kubernetes#99804)", async () => {
    const ns = await cluster.namespace("empty");
    const i = await cluster.interpreter(ns);
    const edge = device("edge-01", { labels: { env: "", site: "north" }, arch: "aarch64", agentVersion: "" });
    await i.register([edge], new Date());
    const r = await i.read();
    expect(r.problems).toEqual([]);
    expect({ ...r.reality.devices.get(edge.id)?.device.labels }).toEqual({ env: "", site: "north" });
    const w = world({ assignments: [assign(label("env", ""), web("registry.local/web:1"))] });
    await converge(i, w);
    // Device labels are written when the World is published (DeviceLabels.ts), as fleet apply does.
    expect((await i.syncStatus(w)).problems).toEqual([]);
    expect((await cluster.kubectl(["get", "devices", "-n", ns, "-l", "env=", "-o", "name"])).trim()).toBe("device.fleet-algebra.dev/edge-01");
  });

  it("outcomes carry each entry's new fingerprint, the one read() then reports", async () => {
    const ns = await cluster.namespace("fingerprint");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    const r = await i.apply(await planFor(i, v1));
    const after = (await i.read()).reality;
    for (const o of outcomesOf(r)) {
      expect(o._tag).toBe("Applied");
      if (o._tag === "Applied") expect(o.fingerprint).toBe(after.desired.get(o.action.device)?.get(o.action.deployment)?.fingerprint);
    }
  });
});

describe("staleness", () => {
  it("a stale saved plan is refused as a whole, and nothing of it is written", async () => {
    const ns = await cluster.namespace("stale");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    const saved: Plan = JSON.parse(JSON.stringify(await planFor(i, v2))) as Plan;
    const other = await cluster.interpreter(ns);
    await converge(other, world({ assignments: [assign(label("env", "prod"), web("registry.local/web:3"))] }));
    const before = await cluster.kubectl(["get", "devices", "-n", ns, "-o", "json"]);
    const result = await i.apply(saved);
    expect(result._tag).toBe("Stale");
    if (result._tag === "Stale") expect(result.stale.map((s) => `${s.device}.${s.deployment}`).sort()).toContain("pi-01.web");
    expect(await cluster.kubectl(["get", "devices", "-n", ns, "-o", "json"])).toBe(before);
  });

  it("heartbeats and reports between plan and apply do not make a plan stale (fingerprints are per entry)", async () => {
    const ns = await cluster.namespace("heartbeat");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    const p = await planFor(i, v2);
    await i.heartbeat(fleet.map((d) => d.id), new Date());
    await i.report([{ device: fleet[0]!.id, deployment: metrics.name, phase: "Running", specHash: specHash(metrics), at: new Date() }]);
    expect(summary(await i.apply(p)).filter((s) => !s.startsWith("Applied"))).toEqual([]);
  });

  it("an entry changed by someone else after the plan fails the plan; others' edits of other entries do not", async () => {
    const ns = await cluster.namespace("entry");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    const p = await planFor(i, v2);
    // Someone else publishes another deployment on pi-01 (a different entry): the plan still holds.
    const other = await cluster.interpreter(ns);
    const withExtra = world({ assignments: [...v1.assignments, assign(deviceIds(["pi-01"]), extra)] });
    await converge(other, withExtra);
    expect(summary(await i.apply(p)).filter((s) => !s.startsWith("Applied"))).toEqual([]);
  });

  it("writes are conditional on the resourceVersion: objects that keep changing are re-read and retried, nothing is lost", async () => {
    const ns = await cluster.namespace("race");
    const i = await cluster.interpreter(ns);
    const many = Array.from({ length: 24 }, (_, n) => device(`dev-${String(n).padStart(2, "0")}`, { labels: { env: "prod" }, arch: "aarch64" }));
    await i.register(many, new Date());
    const p = await planFor(i, v1);
    let beating = true;
    let beats = 0;
    const beater = (async () => {
      while (beating) {
        await i.heartbeat(many.map((d) => d.id), new Date());
        beats++;
      }
    })();
    const r = await i.apply(p);
    beating = false;
    await beater;
    expect(beats).toBeGreaterThan(0);
    expect(summary(r).filter((s) => !s.startsWith("Applied"))).toEqual([]);
    expect((await planFor(i, v1)).actions).toEqual([]);
  });
});

describe("field managers", () => {
  const opsEntry = (ns: string, id: string, d: Deployment): string =>
    JSON.stringify({
      apiVersion: "fleet-algebra.dev/v1alpha1",
      kind: "Device",
      metadata: { name: id, namespace: ns },
      spec: { deployments: [{ name: d.name, specHash: specHash(d), spec: d }] },
    });

  it("a field another manager owns is a conflict reported on its action; the device's other actions apply; forceConflicts takes it", async () => {
    const ns = await cluster.namespace("conflict");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    // An operator pins pi-01's web to another image, taking the fields over with kubectl.
    await cluster.kubectl(["apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", "-"], opsEntry(ns, "pi-01", web("registry.local/web:hotfix")));

    const w = world({ assignments: [...v1.assignments, assign(deviceIds(["pi-01"]), extra)] });
    const p = await planFor(i, w);
    expect(p.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`)).toEqual(["Create pi-01.extra", "Update pi-01.web"]);
    const s = summary(await i.apply(p));
    expect(s[0]).toBe("Applied Create pi-01.extra");
    expect(s[1]).toMatch(/^Failed Update pi-01\.web: conflict: field manager "ops" owns \.spec\.deployments\[name="web"\]\..*--force-conflicts/);

    const forced = await cluster.interpreter(ns, { forceConflicts: true });
    const p2 = await planFor(forced, w);
    expect(p2.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`)).toEqual(["Update pi-01.web"]);
    expect(summary(await forced.apply(p2))).toEqual(["Applied Update pi-01.web"]);
    expect((await planFor(i, w)).actions).toEqual([]);
  });

  it("an entry another manager also holds cannot be deleted; the failure names the holder", async () => {
    const ns = await cluster.namespace("coheld");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    // Same values: no conflict, the operator becomes a co-owner of pi-02's metrics entry.
    await cluster.kubectl(["apply", "--server-side", "--field-manager=ops", "-f", "-"], opsEntry(ns, "pi-02", metrics));
    const w = world({ assignments: [v1.assignments.find((a) => a.deployments[0]?.name === "web")!] });
    const s = summary(await i.apply(await planFor(i, w)));
    expect(s).toEqual([
      "Applied Delete pi-01.metrics",
      expect.stringMatching(/^Failed Delete pi-02\.metrics: entry metrics is also held by field manager "ops"/),
    ]);
    // Once the operator lets go, the next plan deletes it.
    await cluster.kubectl(["apply", "--server-side", "--field-manager=ops", "-f", "-"], JSON.stringify({ apiVersion: "fleet-algebra.dev/v1alpha1", kind: "Device", metadata: { name: "pi-02", namespace: ns } }));
    await converge(i, w);
  });
});

describe("schema validation", () => {
  it("an object violating the schema is rejected by the server with a clear error", async () => {
    const ns = await cluster.namespace("schema");
    const bad = await cluster.server.kubectl(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "fleet-algebra.dev/v1alpha1",
        kind: "Device",
        metadata: { name: "bad-01" },
        spec: { arch: "X86!", labels: { env: "not ok!" }, deployments: [{ name: "web", specHash: "md5:1" }] },
      }),
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('The Device "bad-01" is invalid');
    expect(bad.stderr).toMatch(/spec\.arch: Invalid value: "X86!"/);
    expect(bad.stderr).toMatch(/spec\.deployments\.specHash: Invalid value: "md5:1"/);
    expect(bad.stderr).toMatch(/spec\.labels\.env: Invalid value: "not ok!"/);

    // Through the interpreter's client: the same rejection, as a value.
    const c = resolveCluster({ kubeconfig: cluster.server.kubeconfigPath });
    const api = makeApi(c.config, c.server);
    const r = await api.create(FLEET_DEPLOYMENT, ns, { apiVersion: "fleet-algebra.dev/v1alpha1", kind: "FleetDeployment", metadata: { name: "web" }, spec: { selector: "env=prod", variants: [{ id: "x", assignment: "a", selector: "env=prod", priority: "high", specHash: specHash(metrics), score: {}, rollout: {} }] } }, "test");
    expect(E.isLeft(r) && r.left).toMatchObject({ _tag: "Invalid", message: expect.stringMatching(/spec\.variants\.priority: Invalid value: "string": spec\.variants\.priority in body must be of type integer/) });
    const name = await api.create(DEVICE, ns, { apiVersion: "fleet-algebra.dev/v1alpha1", kind: "Device", metadata: { name: "pi.01" } }, "test");
    expect(E.isLeft(name) && name.left._tag).toBe("Invalid");
  });
});

describe("status", () => {
  it("FleetDeployment status follows reports and heartbeats; an apply refreshes it", async () => {
    const ns = await cluster.namespace("status");
    const i = await cluster.interpreter(ns);
    await i.register(fleet, new Date());
    await converge(i, v1);
    await i.syncStatus(v1);
    const statusOf = async (name: string) =>
      JSON.parse(await cluster.kubectl(["get", "fleetdeployment", name, "-n", ns, "-o", "jsonpath={.status}"])) as Record<string, unknown>;
    expect(await statusOf("web")).toEqual({ matched: 2, published: 2, succeeded: 0, failed: 0, pending: 2, offline: 0 });

    const hash = specHash(web("registry.local/web:1"));
    const at = new Date();
    await i.report([
      { device: fleet[0]!.id, deployment: web("x").name, phase: "Running", specHash: hash, at },
      { device: fleet[1]!.id, deployment: web("x").name, phase: "Failed", specHash: hash, error: "image pull failed", at },
    ]);
    await i.syncStatus(v1);
    expect(await statusOf("web")).toEqual({
      matched: 2,
      published: 2,
      succeeded: 1,
      failed: 1,
      pending: 0,
      offline: 0,
      lastError: { device: "pi-02", error: "image pull failed", at: at.toISOString() },
    });
    const fds = table(await cluster.kubectl(["get", "fleetdeployments", "-n", ns, "-o", "wide"]));
    expect(fds.find((f) => f["NAME"] === "web")?.["LAST-ERROR"]).toBe("image pull failed");
    const devs = table(await cluster.kubectl(["get", "devices", "-n", ns, "-o", "wide"]));
    expect(devs.map((d) => [d["NAME"], d["OBSERVED"]])).toEqual([
      ["nuc-01", ""],
      ["pi-01", "Running 1"],
      ["pi-02", "Failed 1"],
    ]);

    // A new prod device registers; the apply that publishes to it refreshes the counts.
    const pi3 = device("pi-03", { labels: { env: "prod" }, arch: "aarch64" });
    await i.register([pi3], new Date());
    await converge(i, v1);
    expect(i.statusProblems()).toEqual([]);
    expect(await statusOf("web")).toMatchObject({ matched: 3, published: 3, succeeded: 1, failed: 1, pending: 1 });

    // An old heartbeat makes a device offline.
    await i.heartbeat([pi3.id], new Date(Date.now() - 3_600_000));
    await i.syncStatus(v1);
    expect(await statusOf("web")).toMatchObject({ matched: 3, pending: 0, offline: 1 });

    // The World drops metrics: its FleetDeployment goes.
    const r = await i.syncStatus(world({ assignments: [v1.assignments.find((a) => a.deployments[0]?.name === "web")!] }));
    expect(r).toEqual({ written: 1, deleted: 1, problems: [] });
    expect((await cluster.kubectl(["get", "fleetdeployments", "-n", ns, "-o", "name"])).trim()).toBe("fleetdeployment.fleet-algebra.dev/web");
  });
});
