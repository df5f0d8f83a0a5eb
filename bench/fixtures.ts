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

// -------------------------------------------------------------------------------------
// end to end: registered devices (no declared fleet), exactly 3 deployments each
// -------------------------------------------------------------------------------------

/**
 * The end-to-end benchmark's fleet file: 20 assignments and no fleet, so the
 * World applies to the devices registered in the state. Every device gets
 * exactly three deployments: `web` by env (one override by priority),
 * `metrics` by arch, `edge` by site group. Written as a fleet file because
 * the benchmark runs the real `fleet` command on it. `from` is the module
 * to import the API from (the sources' absolute path: the file lives in a
 * temporary directory outside any tsconfig).
 */
export const e2eFleetFile = (from: string): string => `import { and, arch, assign, deployment, label, labelIn, podman, world } from ${JSON.stringify(from)};

// Each deployment binds its own host port (one port bound by all three would be a clash, and the diff would leave every device alone).
const PORTS: Record<string, number> = { web: 8080, metrics: 9100, edge: 8081, spare: 8082 };
const app = (name: string, image: string) =>
  deployment(name, podman({ services: [{ name: "main", image, env: { APP: name }, ports: [{ container: PORTS[name] ?? 8080 }], restart: "always" }] }));
const sites = (g: number) => Array.from({ length: 5 }, (_, i) => "s" + (g * 5 + i));

export default world({
  assignments: [
    assign(label("env", "prod"), app("web", "registry.local/web:1.4")),
    assign(label("env", "staging"), app("web", "registry.local/web:1.5-rc1")),
    assign(label("env", "dev"), app("web", "registry.local/web:2.0-dev")),
    assign(and(label("env", "prod"), label("tier", "core")), app("web", "registry.local/web:1.4-core"), { priority: 10 }),
    assign(arch("aarch64"), app("metrics", "registry.local/node-exporter:arm64")),
    assign(arch("x86_64"), app("metrics", "registry.local/node-exporter:amd64")),
    assign(arch("armv7l"), app("metrics", "registry.local/node-exporter:armv7")),
    ...Array.from({ length: 10 }, (_, g) => assign(labelIn("site", sites(g)), app("edge", "registry.local/edge:" + g))),
    // Three that match no device: assignments a real World carries for hardware not yet bought.
    assign(label("gen", "0"), app("spare", "registry.local/spare:0")),
    assign(label("tier", "none"), app("spare", "registry.local/spare:1")),
    assign(label("env", "none"), app("spare", "registry.local/spare:2")),
  ],
});
`;

/**
 * Reality as the local backend holds it after converging on `w`: `devices`
 * registered (heartbeat `at`), their three entries each published with a
 * revision fingerprint, and every `1/drift`-th entry (0: none) left at a
 * stale spec, so that the plan updates it.
 */
export const registeredReality = (w: World, fleet: ReadonlyArray<Device>, at: Date, drift: number, lineage8: string): { reality: Reality; revision: number } => {
  const resolutionFor = resolver(w);
  const devicesMap = new Map<DeviceId, { device: Device; lastHeartbeat: Date }>();
  const desired = new Map<DeviceId, Map<DeploymentName, DesiredEntry>>();
  const staleSpec = deployment("stale", podman({ services: [{ name: "main", image: "registry.local/stale:0" }] }));
  const stale = specHash(staleSpec);
  let revision = 0;
  for (const d of fleet) {
    devicesMap.set(d.id, { device: d, lastHeartbeat: at });
    const entries = new Map<DeploymentName, DesiredEntry>();
    for (const e of resolutionFor(d).entries) {
      revision++;
      const fingerprint = `r${revision}.${lineage8}`;
      if (drift > 0 && revision % drift === 0) entries.set(e.name, { device: d.id, deployment: e.name, specHash: stale, fingerprint, spec: staleSpec });
      else entries.set(e.name, { device: d.id, deployment: e.name, specHash: e.specHash, fingerprint, spec: e.deployment });
    }
    if (entries.size > 0) desired.set(d.id, entries);
  }
  return { reality: { ...emptyReality, devices: devicesMap, desired }, revision };
};
