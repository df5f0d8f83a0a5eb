/**
 * Kubernetes agrees with the fleet, on a real kube-apiserver: for every
 * deployment whose selector has a LabelSelector form, `kubectl get devices -l
 * <that selector>` lists exactly the devices the fleet matched, for a World
 * that declares its devices (whose agents report other labels) and for one
 * that takes the registered devices; both label sources stay visible.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as O from "fp-ts/lib/Option.js";
import { device, type Device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { diff } from "../../src/diff/Diff.ts";
import { toLabelSelector, type LabelSelector } from "../../src/selectors/LabelSelector.ts";
import { parseSelector } from "../../src/selectors/Parse.ts";
import { arch, matches, type Selector } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world, type World } from "../../src/world/World.ts";
import type { KubeInterpreter } from "../../src/interpreters/kube/index.ts";
import { startCluster, type TestCluster } from "./cluster.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

const dep = (name: string) => deployment(name, podman({ services: [{ name: "s", image: `registry.local/${name}:1` }] }));

/** The kubectl `-l` form of a LabelSelector. */
const kubectlSelector = (ls: LabelSelector): string =>
  [
    ...Object.entries(ls.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(ls.matchExpressions ?? []).map((e) => {
      switch (e.operator) {
        case "In":
          return `${e.key} in (${(e.values ?? []).join(",")})`;
        case "NotIn":
          return `${e.key} notin (${(e.values ?? []).join(",")})`;
        case "Exists":
          return e.key;
        case "DoesNotExist":
          return `!${e.key}`;
      }
    }),
  ].join(",");

const sel = (text: string): Selector => {
  const s = parseSelector(text);
  if (s._tag === "Left") throw new Error(`bad selector ${text}`);
  return s.right;
};

const SELECTORS: ReadonlyArray<readonly [string, Selector]> = [
  ["web", sel("env=prod")],
  ["canary", sel("env=prod, site in (south, east)")],
  ["lab", sel("env!=prod")],
  ["edge", sel("tier, !quarantine")],
  ["arm", arch("aarch64")], // no LabelSelector form: not checked against kubectl
];

const assignments = SELECTORS.map(([name, s]) => assign(s, dep(name), { name }));

const converge = async (i: KubeInterpreter, w: World): Promise<void> => {
  const p = diff(w, (await i.read()).reality, { now: new Date() });
  expect(p.conflicts).toEqual([]);
  const r = await i.apply(p);
  expect(r._tag).toBe("Completed");
  if (r._tag === "Completed") expect(r.outcomes.filter((o) => o._tag === "Failed")).toEqual([]);
  expect((await i.syncStatus(w)).problems).toEqual([]);
};

/**
 * For each selector with a LabelSelector form: kubectl -l lists exactly the
 * fleet's matches, and the FleetDeployment counts them. `strays` are Device
 * objects outside the fleet: they carry no labels, so only a selector that
 * matches a device without labels (negations only) lists them (documented).
 */
const agrees = async (ns: string, fleet: ReadonlyArray<Device>, strays: ReadonlyArray<string> = []): Promise<number> => {
  let checked = 0;
  for (const [name, s] of SELECTORS) {
    const ls = toLabelSelector(s);
    if (O.isNone(ls)) continue;
    checked++;
    const matched = fleet.filter(matches(s)).map((d) => d.id as string);
    const unlabelled = strays.filter((id) => matches(s)(device(id, { labels: {}, arch: "aarch64" })));
    const expected = [...matched, ...unlabelled].sort();
    const listed = (await cluster.kubectl(["get", "devices", "-n", ns, "-l", kubectlSelector(ls.value), "-o", "jsonpath={.items[*].metadata.name}"]))
      .split(" ")
      .filter((x) => x !== "")
      .sort();
    expect(listed, `${name}: kubectl -l ${kubectlSelector(ls.value)}`).toEqual(expected);
    expect(matched.length, name).toBeGreaterThan(0);
    expect(await cluster.kubectl(["get", "fleetdeployment", name, "-n", ns, "-o", "jsonpath={.status.matched}"]), name).toBe(String(matched.length));
  }
  return checked;
};

const label = (ns: string, id: string, path: string): Promise<string> => cluster.kubectl(["get", "device", id, "-n", ns, "-o", `jsonpath={${path}}`]);

describe("Device labels are the labels the selectors see", () => {
  it("a World that declares its devices: the declaration wins over what agents report; strays match nothing", async () => {
    const ns = await cluster.namespace("declared");
    const i = await cluster.interpreter(ns);
    const declared = [
      device("pi-01", { labels: { env: "prod", site: "north", tier: "edge" }, arch: "aarch64" }),
      device("pi-02", { labels: { env: "prod", site: "south", tier: "edge" }, arch: "aarch64" }),
      device("pi-03", { labels: { env: "prod", site: "east" }, arch: "aarch64" }),
      device("pi-04", { labels: { env: "prod", site: "south", tier: "edge", quarantine: "yes" }, arch: "aarch64" }),
      device("nuc-01", { labels: { env: "lab", tier: "core" }, arch: "x86_64" }),
      device("nuc-02", { labels: { env: "lab" }, arch: "x86_64" }),
    ];
    // The agents report other labels than the World declares; one device is registered but not declared.
    await i.register(
      [
        device("pi-01", { labels: { env: "lab" }, arch: "aarch64" }),
        device("pi-02", { labels: { env: "prod", site: "north" }, arch: "aarch64" }),
        device("nuc-01", { labels: { env: "prod", tier: "edge" }, arch: "x86_64" }),
        device("stray-01", { labels: { env: "prod", site: "south", tier: "edge" }, arch: "aarch64" }),
      ],
      new Date(),
    );
    const w = world({ fleet: declared, assignments });
    await converge(i, w);
    expect(await agrees(ns, declared, ["stray-01"])).toBe(4);
    // Both sources visible: the declaration and the report.
    expect(JSON.parse(await label(ns, "pi-01", ".spec.declaredLabels"))).toEqual({ env: "prod", site: "north", tier: "edge" });
    expect(JSON.parse(await label(ns, "pi-01", ".spec.labels"))).toEqual({ env: "lab" });
    expect(JSON.parse(await label(ns, "pi-01", ".metadata.labels"))).toEqual({ env: "prod", site: "north", tier: "edge" });
    expect(await label(ns, "stray-01", ".metadata.labels")).toBe("");

    // A changed declaration moves the device in kubectl as in the fleet; a second sync writes nothing new.
    const moved = declared.map((d) => (d.id === "pi-03" ? device("pi-03", { labels: { env: "lab" }, arch: "aarch64" }) : d));
    const w2 = world({ fleet: moved, assignments });
    await converge(i, w2);
    expect(await agrees(ns, moved, ["stray-01"])).toBe(4);
    const rv = await label(ns, "pi-01", ".metadata.resourceVersion");
    expect((await i.syncStatus(w2)).problems).toEqual([]);
    expect(await label(ns, "pi-01", ".metadata.resourceVersion")).toBe(rv);
  }, 120_000);

  it("a World over the registered devices: their reported labels; a later declaration replaces them, and back", async () => {
    const ns = await cluster.namespace("registered");
    const i = await cluster.interpreter(ns);
    const registered = [
      device("pi-11", { labels: { env: "prod", site: "south", tier: "edge" }, arch: "aarch64" }),
      device("pi-12", { labels: { env: "prod", site: "north", tier: "edge" }, arch: "aarch64" }),
      device("pi-13", { labels: { env: "prod", site: "east", tier: "edge", quarantine: "1" }, arch: "aarch64" }),
      device("nuc-11", { labels: { env: "lab", tier: "core" }, arch: "x86_64" }),
    ];
    await i.register(registered, new Date());
    const w = world({ assignments });
    await converge(i, w);
    expect(await agrees(ns, registered)).toBe(4);
    expect(await label(ns, "pi-11", ".spec.declaredLabels")).toBe("");

    // Declared now (pi-13 no longer quarantined, nuc-11 gone from the fleet), then undeclared again.
    const declared = [
      device("pi-11", { labels: { env: "prod", site: "south", tier: "edge" }, arch: "aarch64" }),
      device("pi-12", { labels: { env: "prod", site: "north", tier: "edge" }, arch: "aarch64" }),
      device("pi-13", { labels: { env: "lab", tier: "edge" }, arch: "aarch64" }),
    ];
    await converge(i, world({ fleet: declared, assignments }));
    expect(await agrees(ns, declared, ["nuc-11"])).toBe(4);
    expect(await label(ns, "nuc-11", ".metadata.labels")).toBe("");
    await converge(i, w);
    expect(await agrees(ns, registered)).toBe(4);
    // Let go of: absent, or null as Kubernetes 1.20 leaves a field its last manager let go of.
    expect(["", "<nil>"]).toContain(await label(ns, "pi-13", ".spec.declaredLabels"));
  }, 120_000);
});
