/**
 * Host ports and mount paths: no plan ever gives a device two bindings of
 * one host port (or two volumes at one path of a service); a device whose
 * deployments clash is reported and left exactly as it is.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import { device } from "../../src/algebra/Device.ts";
import { applyPlan } from "../../src/diff/Apply.ts";
import { clashes } from "../../src/diff/Clash.ts";
import { diff } from "../../src/diff/Diff.ts";
import { emptyReality } from "../../src/diff/Reality.ts";
import { label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { conflictLines } from "../../src/cli/PlanText.ts";
import { conflict } from "../../src/cli/JsonLines.ts";
import { clashyDeploymentArb, clashyRealityArb, clashyWorldArb, NOW } from "./arbitraries.ts";
import { naiveClashes } from "./model.ts";

const plain = { red: (s: string) => s, bold: (s: string) => s } as unknown as Parameters<typeof conflictLines>[1];

describe("clashes", () => {
  it("no plan gives a device two bindings of one host port, or two volumes at one path", () =>
    fc.assert(
      fc.property(clashyWorldArb, clashyRealityArb, (w, r) => {
        const plan = diff(w, r, { now: NOW });
        const after = applyPlan(r, plan);
        // Specs the World knows by hash, for published entries stored without their spec.
        const known = new Map<string, Deployment>(w.assignments.flatMap((a) => a.deployments.map((d) => [specHash(d), d] as const)));
        const touched = new Set(plan.actions.map((a) => a.device));
        return [...touched].every((id) => {
          const specs = [...(after.desired.get(id)?.values() ?? [])].flatMap((e) => e.spec ?? known.get(e.specHash) ?? []);
          return naiveClashes(specs).length === 0;
        });
      }),
      { numRuns: 200 },
    ));

  it("clashes are found exactly as the naive model finds them, whatever the order of the deployments", () =>
    fc.assert(
      fc.property(fc.uniqueArray(clashyDeploymentArb, { maxLength: 3, selector: (d) => d.name }), (ds) => {
        const keys = clashes(ds).map((c) => (c._tag === "HostPort" ? `${c.protocol}/${c.hostPort}` : `${c.deployment}/${c.service}/${c.target}`));
        return JSON.stringify([...keys].sort()) === JSON.stringify(naiveClashes(ds)) && JSON.stringify(clashes([...ds].reverse())) === JSON.stringify(clashes(ds));
      }),
    ));

  const web = deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.4", ports: [{ container: 80, host: 8080 }] }] }));
  const api = deployment("api", podman({ services: [{ name: "app", image: "api:1", ports: [{ container: 3000, host: 8080 }] }] }));
  const files = deployment("files", podman({ services: [{ name: "srv", image: "srv:1", volumes: [{ source: "a", target: "/data" }, { source: "b", target: "/data" }] }] }));
  const fleet = [device("pi-01", { labels: { env: "prod" } }), device("pi-02", { labels: { env: "dev" } })];

  it("two deployments binding one host port: a conflict per device, reported before apply, the device left alone", () => {
    const w = world({ fleet, assignments: [assign(label("env", "prod"), [web, api]), assign(label("env", "dev"), web)] });
    const plan = diff(w, emptyReality, { now: NOW });
    expect(plan.conflicts).toEqual([
      { _tag: "HostPortConflict", device: "pi-01", protocol: "tcp", hostPort: 8080, bindings: [{ deployment: "api", service: "app" }, { deployment: "web", service: "httpd" }] },
    ]);
    expect(plan.actions.map((a) => `${a._tag} ${a.device}.${a.deployment}`)).toEqual(["Create pi-02.web"]);
    expect(plan.skipped).toEqual([{ device: "pi-01", reason: "deployments clash: host port 8080/tcp bound 2 times" }]);
    expect(conflictLines(plan.conflicts, plain)[1]).toBe("  ! pi-01: host port 8080/tcp is bound 2 times, by api/app, web/httpd; the device is left as it is");
    expect(JSON.parse(conflict(plan.conflicts[0] as never))).toEqual({
      type: "conflict",
      v: 1,
      kind: "host-port",
      device: "pi-01",
      protocol: "tcp",
      hostPort: 8080,
      bindings: [{ deployment: "api", service: "app" }, { deployment: "web", service: "httpd" }],
    });
  });

  it("two volumes at one path of a service: a conflict, in text and JSON", () => {
    const plan = diff(world({ fleet, assignments: [assign(label("env", "dev"), files)] }), emptyReality, { now: NOW });
    expect(plan.actions).toEqual([]);
    expect(conflictLines(plan.conflicts, plain)[1]).toBe("  ! pi-02 files: service srv mounts a, b all at /data; the device is left as it is");
    expect(JSON.parse(conflict(plan.conflicts[0] as never))).toMatchObject({ kind: "mount", device: "pi-02", deployment: "files", service: "srv", target: "/data", sources: ["a", "b"] });
  });

  it("ports on different addresses, or different protocols, do not clash", () => {
    const on = (ip: string, protocol: "tcp" | "udp") =>
      deployment(`p-${ip.replace(/\./g, "-")}-${protocol}`, podman({ services: [{ name: "s", image: "i", ports: [{ container: 80, host: 8080, hostIp: ip, protocol }] }] }));
    expect(clashes([on("127.0.0.1", "tcp"), on("10.0.0.1", "tcp"), on("127.0.0.1", "udp")])).toEqual([]);
    expect(clashes([on("127.0.0.1", "tcp"), on("0.0.0.0", "tcp")])).toHaveLength(1);
  });
});
