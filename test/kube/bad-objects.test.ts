/**
 * Bad objects are reported and skipped, never abort a read. The schema keeps
 * most bad data out, so the bad objects are made the way they get into real
 * clusters: written while a looser definition was installed (an older CRD
 * version, a hand-installed one), then the CRDs are upgraded, which does not
 * revalidate what is stored. Plus bad data inside the fields the schema
 * leaves open (a deployment's score).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";
import { diff } from "../../src/diff/Diff.ts";
import type { Action } from "../../src/diff/Plan.ts";
import { all } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import type { KubeInterpreter } from "../../src/interpreters/kube/index.ts";
import { startCluster, type TestCluster } from "./cluster.ts";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:1" }] }));
const w = world({ assignments: [assign(all, web)] });

let cluster: TestCluster;
let ns: string;
let i: KubeInterpreter;

const looseCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "devices.fleet-algebra.dev" },
  spec: {
    group: "fleet-algebra.dev",
    scope: "Namespaced",
    names: { kind: "Device", plural: "devices", singular: "device", listKind: "DeviceList" },
    versions: [{ name: "v1alpha1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
  },
};

const object = (name: string, body: Record<string, unknown>): string =>
  JSON.stringify({ apiVersion: "fleet-algebra.dev/v1alpha1", kind: "Device", metadata: { name }, ...body });

beforeAll(async () => {
  cluster = await startCluster();
  ns = await cluster.namespace("bad");
  const now = new Date().toISOString();
  await cluster.kubectl(["apply", "-f", "-"], JSON.stringify(looseCrd));
  await cluster.kubectl(["wait", "--for=condition=Established", "crd/devices.fleet-algebra.dev"]);
  const registered = { spec: { labels: { env: "prod" }, arch: "aarch64" }, status: { lastHeartbeat: now } };
  for (const [name, body] of [
    ["good-01", registered],
    ["pi.01", registered],
    ["bad-arch", { spec: { arch: "X86!" } }],
    ["bad-type", { spec: { arch: 42 } }],
    ["bad-label", { spec: { arch: "x86_64", labels: { "Bad Key!": "v" } } }],
    ["bad-hash", { spec: { arch: "x86_64", deployments: [{ name: "web", specHash: "nope" }] } }],
    ["bad-heartbeat", { spec: { arch: "x86_64" }, status: { lastHeartbeat: "yesterday" } }],
    ["bad-phase", { spec: { arch: "x86_64" }, status: { lastHeartbeat: now, deployments: [{ name: "web", phase: "Exploded", at: now }] } }],
  ] as const)
    await cluster.kubectl(["create", "-n", ns, "-f", "-"], object(name, body));
  // The upgrade to the real definitions keeps what is stored.
  i = await cluster.interpreter(ns);
  await i.installCrds();
  // Valid for the schema (a deployment's spec is open), not for the fleet: an unknown score.
  await cluster.kubectl(
    ["create", "-n", ns, "-f", "-"],
    object("bad-score", { spec: { arch: "x86_64", deployments: [{ name: "web", specHash: specHash(web), spec: { name: "web", score: { _tag: "DockerV9" } } }] } }),
  );
});
afterAll(async () => {
  await cluster?.stop();
});

describe("bad objects", () => {
  const damagedIds = ["bad-arch", "bad-hash", "bad-heartbeat", "bad-label", "bad-phase", "bad-score", "bad-type"];

  it("are reported with their keys and skipped; their devices are damaged; the rest still reads", async () => {
    const { reality, problems } = await i.read();
    expect(problems.map((p) => p.key)).toEqual([...damagedIds, "pi.01"].sort().map((n) => `${ns}/${n}`));
    for (const p of problems) expect(p.source).toBe("devices.fleet-algebra.dev");
    const message = (name: string) => problems.find((p) => p.key === `${ns}/${name}`)?.message;
    expect(message("pi.01")).toMatch(/not a device id/);
    expect(message("bad-arch")).toMatch(/arch/);
    expect(message("bad-label")).toMatch(/Bad Key!/);
    expect(message("bad-hash")).toMatch(/spec\.deployments\[name="web"\]\.specHash: not a sha256 hash/);
    expect(message("bad-heartbeat")).toMatch(/status\.lastHeartbeat: invalid date-time "yesterday"/);
    expect(message("bad-phase")).toMatch(/status\.deployments\[0\]/);
    expect(message("bad-score")).toMatch(/spec\.deployments\[name="web"\]\.spec/);
    expect([...reality.damaged.keys()].sort()).toEqual(damagedIds);
    expect([...reality.devices.keys()]).toEqual(["good-01"]);
  });

  it("the diff leaves damaged devices alone, and an apply still works for the others", async () => {
    const { reality } = await i.read();
    const p = diff(w, reality, { now: new Date() });
    expect(p.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`)).toEqual(["Create good-01.web"]);
    expect(p.skipped.map((s) => s.device)).toEqual(damagedIds);
    const r = await i.apply(p);
    expect(r._tag === "Completed" && r.outcomes.map((o) => o._tag)).toEqual(["Applied"]);
  });

  it("an action on a damaged device (from a plan made elsewhere) fails alone, naming why", async () => {
    const create: Action = {
      _tag: "Create",
      device: "bad-arch" as DeviceId,
      deployment: web.name,
      spec: web,
      specHash: specHash(web),
      reason: { assignment: "@all", selector: "@all", priority: 0 },
      presence: "online",
    };
    const r = await i.apply({ actions: [create] });
    expect(r._tag).toBe("Completed");
    if (r._tag === "Completed") expect(r.outcomes[0]).toMatchObject({ _tag: "Failed", error: expect.stringMatching(/^the Device object is unreadable: .*arch/) });
  });

  it("a FleetDeployment whose spec does not decode is reported by the status refresh, and the others are refreshed", async () => {
    const other = deployment("other", podman({ services: [{ name: "x", image: "registry.local/x:1" }] }));
    const w2 = world({ assignments: [...w.assignments, assign(all, other)] });
    await i.syncStatus(w2);
    await cluster.kubectl(
      ["create", "-n", ns, "-f", "-"],
      JSON.stringify({
        apiVersion: "fleet-algebra.dev/v1alpha1",
        kind: "FleetDeployment",
        metadata: { name: "broken", labels: { "app.kubernetes.io/managed-by": "fleet-algebra" } },
        spec: { selector: "env in (", variants: [{ id: "x", assignment: "x", selector: "env in (", priority: 0, specHash: specHash(web), score: web.score, rollout: web.rollout }] },
      }),
    );
    const r = await i.apply(diff(w2, (await i.read()).reality, { now: new Date() }));
    expect(r._tag).toBe("Completed");
    expect(i.statusProblems()).toEqual([expect.stringMatching(/^fleetdeployment broken: unreadable spec: spec\.variants\[id=x\]\.selector: /)]);
    expect(await cluster.kubectl(["get", "fleetdeployment", "other", "-n", ns, "-o", "jsonpath={.status.published}"])).toBe("1");
  });
});
