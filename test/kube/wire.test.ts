/**
 * The pure parts of the Kubernetes interpreter, without a server: decoding
 * Device objects, fingerprints, field ownership, error classification,
 * kubeconfig resolution, and the FleetDeployment law (status recomputed
 * from the stored spec equals status from the World).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { removeTempDir, tempDirSync } from "../support/processes.ts";
import { ApiException } from "@kubernetes/client-node";
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { status } from "../../src/diff/Status.ts";
import { world } from "../../src/world/World.ts";
import { assign } from "../../src/world/Assignment.ts";
import { BackendUnavailableError } from "../../src/interpreters/Interpreter.ts";
import { classify } from "../../src/interpreters/kube/Api.ts";
import { resolveCluster } from "../../src/interpreters/kube/Cluster.ts";
import { crds } from "../../src/interpreters/kube/Crds.ts";
import { decodeDeviceObject, desiredConfig, entryFingerprint, encodeObserved, observedSummary } from "../../src/interpreters/kube/DeviceObject.ts";
import { CONTROL_PLANE, appliedEntries, entryOfField, entryOwners } from "../../src/interpreters/kube/FieldOwners.ts";
import {
  assignmentsOf,
  decodeFleetDeployment,
  fleetDeploymentsOf,
  formatFleetDeploymentError,
  specConfig,
  statusConfig,
  type FleetDeploymentError,
} from "../../src/interpreters/kube/FleetDeploymentObject.ts";
import { NOW, realityArb, worldArb } from "../laws/arbitraries.ts";

const web = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:1" }] }));

const deviceObject = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: "fleet-algebra.dev/v1alpha1",
  kind: "Device",
  metadata: { name: "pi-01", resourceVersion: "7" },
  spec: { labels: { env: "prod" }, arch: "aarch64", deployments: [{ name: "web", specHash: specHash(web), revision: "6", spec: web }] },
  status: { lastHeartbeat: "2026-06-01T12:00:00Z", deployments: [{ name: "web", phase: "Running", specHash: specHash(web), at: "2026-06-01T12:00:00Z" }] },
  ...over,
});

describe("Device objects", () => {
  it("decode into registration, entries with fingerprints, observed state and heartbeat", () => {
    const d = decodeDeviceObject(deviceObject());
    expect(E.isRight(d)).toBe(true);
    if (E.isLeft(d)) return;
    expect(d.right.registration).toMatchObject({ id: "pi-01", arch: "aarch64", labels: { env: "prod" } });
    expect(d.right.entries.map((e) => [e.name, e.fingerprint])).toEqual([["web", entryFingerprint("6", specHash(web))]]);
    expect(d.right.observed.map((o) => [o.deployment, o.phase])).toEqual([["web", "Running"]]);
    expect(d.right.lastHeartbeat?.toISOString()).toBe("2026-06-01T12:00:00.000Z");
  });

  it("carry an agent's health status through (encode, decode), and refuse one outside the vocabulary", () => {
    const o = { device: "pi-01" as never, deployment: "web" as never, phase: "Running" as const, specHash: specHash(web), health: "unhealthy" as const, at: new Date("2026-06-01T12:00:00Z") };
    const d = decodeDeviceObject(deviceObject({ status: { deployments: [encodeObserved(o)] } }));
    expect(E.isRight(d) && d.right.observed).toEqual([o]);
    const bad = decodeDeviceObject(deviceObject({ status: { deployments: [{ ...encodeObserved(o), health: "sick" }] } }));
    expect(E.isLeft(bad) && bad.left.message).toMatch(/status\.deployments\[0\]: health: /);
  });

  it("an object from another version or kind is unreadable, not misread", () => {
    expect(decodeDeviceObject(deviceObject({ apiVersion: "fleet-algebra.dev/v1beta1" }))).toEqual(
      E.left({ _tag: "Unreadable", id: "pi-01", message: "unknown version fleet-algebra.dev/v1beta1, kind Device (expected fleet-algebra.dev/v1alpha1 Device)" }),
    );
    expect(decodeDeviceObject(deviceObject({ kind: "Gadget" }))._tag).toBe("Left");
  });

  it("a spec whose hash is not its content's is unreadable; an entry named twice too", () => {
    const other = deployment("web", podman({ services: [{ name: "httpd", image: "registry.local/web:2" }] }));
    const lying = deviceObject({ spec: { arch: "aarch64", deployments: [{ name: "web", specHash: specHash(web), spec: { ...other, name: "db" } }] } });
    expect(decodeDeviceObject(lying)).toMatchObject({ left: { _tag: "Unreadable", message: expect.stringMatching(/spec\.name is "db"/) } });
    const twice = deviceObject({ spec: { arch: "aarch64", deployments: [{ name: "web", specHash: specHash(web) }, { name: "web", specHash: specHash(web) }] } });
    expect(decodeDeviceObject(twice)).toMatchObject({ left: { message: "spec.deployments names a deployment twice" } });
  });

  it("without spec.arch a device has not registered; a null list (1.20 server-side apply) is empty", () => {
    const d = decodeDeviceObject(deviceObject({ spec: { deployments: null }, status: undefined }));
    expect(E.isRight(d) && [d.right.registration, d.right.entries]).toEqual([undefined, []]);
  });

  it("fingerprints differ when the revision or the spec hash differs", () => {
    fc.assert(
      fc.property(fc.tuple(fc.stringMatching(/^[0-9]{1,6}$/), fc.constantFrom(specHash(web), `sha256:${"0".repeat(64)}`)), fc.tuple(fc.stringMatching(/^[0-9]{1,6}$/), fc.constantFrom(specHash(web), `sha256:${"0".repeat(64)}`)), ([r1, h1], [r2, h2]) =>
        (entryFingerprint(r1, h1) === entryFingerprint(r2, h2)) === (r1 === r2 && h1 === h2),
      ),
    );
  });

  it("the control plane's apply body is conditional, sorted, and omits an empty list", () => {
    const body = desiredConfig("pi-01" as never, "ns", "42", [{ name: "web" }, { name: "db" }], ["web", "db", "extra"]) as {
      metadata: { resourceVersion: string; annotations: Record<string, string> };
      spec: { deployments: Array<{ name: string }> };
    };
    expect(body.metadata.resourceVersion).toBe("42");
    expect(body.metadata.annotations["fleet-algebra.dev/deployments"]).toBe("db,extra,web");
    expect(body.spec.deployments.map((e) => e.name)).toEqual(["db", "web"]);
    expect((desiredConfig("pi-01" as never, "ns", "42", [], []) as { spec: unknown }).spec).toEqual({});
  });

  it("summarises observed phases in a fixed order", () => {
    const at = NOW;
    const o = (deployment: string, phase: "Running" | "Pending" | "Failed") => ({ device: "d" as never, deployment: deployment as never, phase, at });
    expect(observedSummary([o("a", "Failed"), o("b", "Running"), o("c", "Running")])).toBe("Running 2, Failed 1");
    expect(observedSummary([])).toBe("");
  });
});

describe("field ownership", () => {
  const managedFields = [
    { manager: "fleet-agent", operation: "Apply", fieldsV1: { "f:spec": { "f:arch": {} } } },
    { manager: CONTROL_PLANE, operation: "Apply", fieldsV1: { "f:spec": { "f:deployments": { 'k:{"name":"web"}': { ".": {} }, 'k:{"name":"db"}': { ".": {} } } } } },
    { manager: "ops", operation: "Apply", fieldsV1: { "f:spec": { "f:deployments": { 'k:{"name":"web"}': { "f:specHash": {} } } } } },
    { manager: CONTROL_PLANE, operation: "Update", fieldsV1: { "f:spec": { "f:deployments": { 'k:{"name":"old"}': {} } } } },
    { manager: "kubectl-edit", operation: "Update", subresource: "status", fieldsV1: "garbage" },
  ];
  it("finds what the control plane applied, and who else holds an entry", () => {
    expect([...appliedEntries(managedFields, CONTROL_PLANE)].sort()).toEqual(["db", "web"]);
    expect(entryOwners(managedFields, "web", CONTROL_PLANE)).toEqual(["ops"]);
    expect(entryOwners(managedFields, "db", CONTROL_PLANE)).toEqual([]);
  });
  it("reads the entry a conflicting field path is about", () => {
    expect(entryOfField('.spec.deployments[name="web"].spec.score')).toBe("web");
    expect(entryOfField(".spec.labels.env")).toBeUndefined();
  });
});

describe("API failures", () => {
  const status = (code: number, body: Record<string, unknown>) => new ApiException(code, "x", JSON.stringify({ kind: "Status", code, ...body }), {});
  it("are classified: field conflicts (with managers), resourceVersion conflicts, existing, invalid, denied, unreachable", () => {
    expect(
      classify(
        status(409, {
          reason: "Conflict",
          message: "Apply failed with 2 conflicts",
          details: { causes: [{ reason: "FieldManagerConflict", message: 'conflict with "ops" using v1', field: '.spec.deployments[name="web"].specHash' }, { reason: "FieldManagerConflict", message: 'conflict with "ci"', field: ".spec.a" }] },
        }),
        "https://k",
      ),
    ).toMatchObject({ _tag: "FieldConflicts", conflicts: [{ manager: "ci", field: ".spec.a" }, { manager: "ops", field: '.spec.deployments[name="web"].specHash' }] });
    expect(classify(status(409, { reason: "Conflict", message: "the object has been modified" }), "https://k")._tag).toBe("Modified");
    expect(classify(status(409, { reason: "AlreadyExists", message: "exists" }), "https://k")._tag).toBe("AlreadyExists");
    expect(classify(status(422, { reason: "Invalid", message: "bad" }), "https://k")).toEqual({ _tag: "Invalid", message: "bad" });
    expect(classify(new ApiException(403, "x", "not json", {}), "https://k")).toEqual({ _tag: "Denied", code: 403, message: "forbidden: not json" });
    expect(classify(new Error("connect ECONNREFUSED 127.0.0.1:1"), "https://127.0.0.1:1")).toEqual({
      _tag: "Unreachable",
      message: "cannot reach the Kubernetes API server at https://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1",
    });
  });
});

describe("kubeconfig resolution", () => {
  const dir = tempDirSync("kubeconfig");
  const config = (name: string, body: Record<string, unknown>): string => {
    const f = join(dir, name);
    writeFileSync(f, JSON.stringify({ apiVersion: "v1", kind: "Config", preferences: {}, ...body }));
    return f;
  };
  const two = config("two", {
    clusters: [{ name: "a", cluster: { server: "https://a.example:6443" } }, { name: "b", cluster: { server: "https://b.example:6443" } }],
    users: [{ name: "u", user: { token: "t" } }],
    contexts: [{ name: "ctx-a", context: { cluster: "a", user: "u", namespace: "fleet" } }, { name: "ctx-b", context: { cluster: "b", user: "u" } }],
    "current-context": "ctx-a",
  });
  const noCurrent = config("none", { clusters: [], users: [], contexts: [] });
  const home = tempDirSync("home");
  const homeWithConfig = tempDirSync("home");
  afterAll(() => Promise.all([dir, home, homeWithConfig].map(removeTempDir)));
  const loud = /^no Kubernetes cluster configured: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/;

  it("with nothing configured, says so loudly instead of falling back to localhost:8080", () => {
    expect(() => resolveCluster({}, { HOME: home })).toThrow(BackendUnavailableError);
    expect(() => resolveCluster({}, { HOME: home })).toThrow(loud);
    expect(() => resolveCluster({}, { HOME: home, KUBECONFIG: "" })).toThrow(loud);
  });

  it("takes --kubeconfig, else KUBECONFIG (first file with a current context wins), else ~/.kube/config", () => {
    expect(resolveCluster({ kubeconfig: two }, {})).toMatchObject({ server: "https://a.example:6443", context: "ctx-a", namespace: "fleet" });
    expect(resolveCluster({}, { KUBECONFIG: `${join(dir, "missing")}:${two}` })).toMatchObject({ server: "https://a.example:6443" });
    const h = homeWithConfig;
    const kubeDir = join(h, ".kube");
    mkdirSync(kubeDir);
    writeFileSync(join(kubeDir, "config"), JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name: "h", cluster: { server: "https://h.example" } }], users: [{ name: "u", user: {} }], contexts: [{ name: "h", context: { cluster: "h", user: "u" } }], "current-context": "h" }));
    expect(resolveCluster({}, { HOME: h })).toMatchObject({ server: "https://h.example", namespace: "default", source: join(kubeDir, "config") });
  });

  it("--context and --namespace choose; bad choices are named", () => {
    expect(resolveCluster({ kubeconfig: two, context: "ctx-b" }, {})).toMatchObject({ server: "https://b.example:6443", namespace: "default" });
    expect(resolveCluster({ kubeconfig: two, context: "ctx-b", namespace: "x" }, {})).toMatchObject({ namespace: "x" });
    expect(() => resolveCluster({ kubeconfig: two, context: "nope" }, {})).toThrow(/has no context "nope" \(contexts: ctx-a, ctx-b\)/);
    expect(() => resolveCluster({ kubeconfig: noCurrent }, {})).toThrow(/has no current context; pass --context/);
    expect(() => resolveCluster({ kubeconfig: join(dir, "missing") }, {})).toThrow(/does not exist/);
    expect(() => resolveCluster({}, { KUBECONFIG: join(dir, "missing") })).toThrow(/KUBECONFIG names no existing file/);
  });
});

describe("CRDs", () => {
  it("are apiextensions.k8s.io/v1 with a status subresource, printer columns and a definition hash", () => {
    for (const crd of crds() as ReadonlyArray<{ apiVersion: string; metadata: { annotations: Record<string, string> }; spec: { versions: Array<{ subresources: unknown; additionalPrinterColumns: unknown[] }> } }>) {
      expect(crd.apiVersion).toBe("apiextensions.k8s.io/v1");
      expect(crd.metadata.annotations["fleet-algebra.dev/definition-hash"]).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
      expect(crd.spec.versions[0]?.additionalPrinterColumns.length).toBeGreaterThan(3);
    }
  });
});

describe("FleetDeployment objects", () => {
  it("law: status recomputed from the stored spec equals the World's, deployment by deployment", () => {
    fc.assert(
      fc.property(worldArb, realityArb(), (w0, r) => {
        // The registered devices are the fleet (the cluster does not hold the World's declared fleet).
        const w = world({ assignments: w0.assignments });
        const stored = fleetDeploymentsOf(w).map((fd) => {
          const wire: unknown = JSON.parse(JSON.stringify({ ...specConfig(fd, "ns"), metadata: { name: fd.name, resourceVersion: "1" } }));
          const d = decodeFleetDeployment(wire);
          if (E.isLeft(d) || E.isLeft(d.right.spec)) throw new Error(`does not decode: ${JSON.stringify(d)}`);
          return d.right.spec.right;
        });
        const rebuilt = world({ assignments: assignmentsOf(stored) });
        const a = status(w, r, { now: NOW });
        const b = status(rebuilt, r, { now: NOW });
        for (const fd of stored) expect(statusConfig(fd.name, "ns", b)).toEqual(statusConfig(fd.name, "ns", a));
      }),
      { numRuns: 200 },
    );
  });

  it("a spec that does not decode is a tagged error that says why in one line; nothing throws", () => {
    const w = world({ assignments: [assign("env=prod", deployment("web", podman({ services: [{ name: "s", image: "w:1" }] })))] });
    const fd = fleetDeploymentsOf(w)[0];
    if (fd === undefined) throw new Error("no FleetDeployment");
    const valid = JSON.parse(JSON.stringify({ ...specConfig(fd, "ns"), metadata: { name: fd.name, resourceVersion: "1" } })) as {
      spec: { variants: Array<Record<string, unknown>> };
    };
    const variant = (patch: Record<string, unknown>) => ({ ...valid, spec: { ...valid.spec, variants: [{ ...valid.spec.variants[0], ...patch }] } });
    const specError = (u: unknown): FleetDeploymentError | undefined => {
      const d = decodeFleetDeployment(u);
      return E.isLeft(d) ? d.left : E.isLeft(d.right.spec) ? d.right.spec.left : undefined;
    };
    expect(specError(valid)).toBeUndefined();
    expect(specError(variant({ selector: "env in (" }))?._tag).toBe("BadSelector");
    expect(specError(variant({ specHash: "sha256:00" }))).toEqual({ _tag: "HashMismatch", variant: valid.spec.variants[0]?.["id"] });
    expect(specError(variant({ score: { _tag: "PodmanV0", services: "no" } }))?._tag).toBe("BadDeployment");
    expect(specError({ ...valid, metadata: { name: "Not_A_Name", resourceVersion: "1" } })).toEqual({ _tag: "BadName", name: "Not_A_Name" });
    expect(specError({ ...valid, spec: 3 })?._tag).toBe("BadSpec");
    expect(specError(null)?._tag).toBe("NotAnObject");
    expect(formatFleetDeploymentError({ _tag: "HashMismatch", variant: "x" })).toBe("spec.variants[id=x]: specHash does not match score and rollout");
    const paths = (x: unknown, at: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> =>
      Array.isArray(x) ? [at, ...x.flatMap((y, i) => paths(y, [...at, i]))] : typeof x === "object" && x !== null ? [at, ...Object.entries(x).flatMap(([k, y]) => paths(y, [...at, k]))] : [at];
    const all = paths(valid).filter((p) => p.length > 0);
    const set = (x: unknown, p: ReadonlyArray<string | number>, v: unknown): unknown => {
      const copy = structuredClone(x) as Record<string | number, unknown>;
      let o = copy;
      for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[p[p.length - 1] as string | number] = v;
      return copy;
    };
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.tuple(fc.nat(), fc.jsonValue()).map(([n, v]) => set(valid, all[n % all.length] as ReadonlyArray<string | number>, v))), (u) => {
        const e = specError(u);
        if (e === undefined) return;
        const m = formatFleetDeploymentError(e);
        expect(m.length).toBeGreaterThan(0);
        expect(m).not.toContain("\n");
        expect(m).not.toContain("[object");
      }),
      { numRuns: 300 },
    );
  });
});
