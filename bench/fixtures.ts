/**
 * Deterministic benchmark fleets: N devices with a realistic label mix, 20
 * assignments mixing label, arch and kubectl-syntax selectors, and a Reality
 * converged to the World with 1 % of its entries perturbed (a third stale
 * specs, a third missing, a third extra).
 */
import { device, type Device } from "../src/algebra/Device.ts";
import { deployment, podman, specHash, type Deployment } from "../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../src/algebra/Name.ts";
import { and, arch, label, labelIn, labelGt, not, or, hasLabel } from "../src/selectors/Selector.ts";
import { assign, type Assignment } from "../src/world/Assignment.ts";
import { world, type World } from "../src/world/World.ts";
import * as O from "fp-ts/lib/Option.js";
import { resolver } from "../src/diff/Diff.ts";
import { emptyReality, type DesiredEntry, type Reality } from "../src/diff/Reality.ts";

export const NOW = new Date("2026-11-23T12:00:00Z");

const ENVS = ["prod", "prod", "prod", "prod", "prod", "prod", "prod", "staging", "staging", "dev"];
const ARCHES = ["aarch64", "aarch64", "x86_64", "armv7l"];

export const devices = (n: number): Device[] => {
  const out: Device[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const labels: Record<string, string> = {
      env: ENVS[i % ENVS.length] as string,
      site: `s${(i * 7) % 50}`,
      tier: i % 3 === 0 ? "core" : "edge",
      gen: String(1 + (i % 5)),
    };
    if (i % 11 === 0) labels["gpu"] = "true";
    out[i] = device(`dev-${String(i).padStart(7, "0")}`, { labels, arch: ARCHES[(i * 3) % ARCHES.length] as string });
  }
  return out;
};

// Each application binds its own host port: deployments that bound one port twice would clash, and the diff leaves such a device alone.
const hostPorts = new Map<string, number>();
const hostPort = (name: string): number => {
  if (!hostPorts.has(name)) hostPorts.set(name, 20_000 + hostPorts.size);
  return hostPorts.get(name) as number;
};

const app = (name: string, image: string): Deployment =>
  deployment(name, podman({ services: [{ name: "main", image, env: { APP: name }, ports: [{ container: 8080, host: hostPort(name) }], restart: "always" }] }));

export const assignments = (): Assignment[] => {
  const a: Assignment[] = [
    assign(label("env", "prod"), app("web", "registry.local/web:1.4")),
    assign(label("env", "staging"), app("web", "registry.local/web:1.5-rc1")),
    assign(arch("aarch64"), app("metrics-arm", "registry.local/node-exporter:arm64")),
    assign(arch("x86_64"), app("metrics-amd", "registry.local/node-exporter:amd64")),
    assign(arch("armv7l"), app("metrics-v7", "registry.local/node-exporter:armv7")),
    assign(and(label("tier", "core"), label("env", "prod")), app("broker", "registry.local/broker:3")),
    assign(hasLabel("gpu"), app("inference", "registry.local/infer:2")),
    assign(and(hasLabel("gpu"), arch("aarch64")), app("inference", "registry.local/infer:2-arm"), { priority: 10 }),
    assign(labelIn("site", ["s1", "s2", "s3", "s4", "s5"]), app("canary-agent", "registry.local/agent:2")),
    assign(labelGt("gen", 3), app("firmware-watch", "registry.local/fw:1")),
    assign("env in (prod, staging), tier=edge", app("cache", "registry.local/cache:7")),
    assign("env=dev or @arch=armv7l", app("debug-shell", "registry.local/shell:1")),
    assign(not(label("env", "prod")), app("log-shipper", "registry.local/logs:5")),
    assign(label("env", "prod"), app("log-shipper", "registry.local/logs:4")),
    assign(and(label("site", "s0"), arch("x86_64")), app("gateway", "registry.local/gw:1")),
    assign(or(label("site", "s10"), label("site", "s20")), app("gateway", "registry.local/gw:1")),
    assign(labelIn("gen", ["1", "2"]), app("legacy-shim", "registry.local/shim:1")),
    assign("tier=core, !gpu", app("backup", "registry.local/backup:2")),
    assign(and(label("env", "staging"), arch("aarch64")), app("soak", "registry.local/soak:1")),
    assign(label("env", "dev"), app("web", "registry.local/web:2.0-dev")),
  ];
  if (a.length !== 20) throw new Error("the benchmark wants 20 assignments");
  return a;
};

export const benchWorld = (n: number): World => world({ fleet: devices(n), assignments: assignments() });

/**
 * Reality converged to the World, then 1 % of its entries perturbed. Built
 * straight from the resolver (not by applying a 5M-action plan) so that the
 * fixture's own garbage does not dominate the peak RSS of a measurement.
 */
export const benchReality = (w: World): Reality => {
  const resolutionFor = resolver(w);
  const desired = new Map<DeviceId, Map<DeploymentName, DesiredEntry>>();
  const fleet = O.isSome(w.fleet) ? w.fleet.value.devices : [];
  const stale = "sha256:" + "0".repeat(64);
  let total = 0;
  let i = 0;
  for (const d of fleet) {
    const entries = new Map<DeploymentName, DesiredEntry>();
    for (const e of resolutionFor(d).entries) {
      total++;
      // Fingerprints as a KV would give them: revisions, distinct from spec hashes.
      const entry: DesiredEntry = { device: d.id, deployment: e.name, specHash: e.specHash, fingerprint: String(total) };
      if (total % 100 !== 0) {
        entries.set(e.name, entry);
        continue;
      }
      const kind = i++ % 3;
      if (kind === 0) entries.set(e.name, { ...entry, specHash: stale });
      else if (kind === 2) {
        entries.set(e.name, entry);
        entries.set("retired" as DeploymentName, { device: d.id, deployment: "retired" as DeploymentName, specHash: stale, fingerprint: "0" });
      } // kind 1: missing
    }
    if (entries.size > 0) desired.set(d.id, entries);
  }
  return { ...emptyReality, desired };
};

export const entryCount = (r: Reality): number => {
  let n = 0;
  for (const m of r.desired.values()) n += m.size;
  return n;
};

export { specHash };
