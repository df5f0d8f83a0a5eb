/**
 * fast-check arbitraries over small universes (few label keys, values, ids),
 * so that random selectors, devices and worlds actually interact: selectors
 * hit and miss, assignments overlap, entries collide.
 */
import fc from "fast-check";
import * as S from "../../src/selectors/Selector.ts";
import type { Selector } from "../../src/selectors/Selector.ts";
import { device, type Device } from "../../src/algebra/Device.ts";
import { deployment, podman, type Deployment } from "../../src/algebra/Deployment.ts";
import { assign, type Assignment } from "../../src/world/Assignment.ts";
import { emptyWorld, world, WorldMonoid, type World } from "../../src/world/World.ts";
import * as Fleet from "../../src/algebra/Fleet.ts";
import { reality, type Reality } from "../../src/diff/Reality.ts";
import { hasHealthCheck, specHash } from "../../src/algebra/Deployment.ts";
import type { DeploymentName, DeviceId } from "../../src/algebra/Name.ts";

export const KEYS = ["env", "tier", "zone", "example.com/gen"] as const;
export const VALUES = ["prod", "dev", "", "1", "7", "edge"] as const;
export const ARCHES = ["aarch64", "x86_64", "armv7l"] as const;
export const IDS = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"] as const;
export const DEPLOYMENTS = ["web", "db", "metrics"] as const;

export const labelsArb: fc.Arbitrary<Record<string, string>> = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), {
  maxKeys: KEYS.length,
});

export const deviceWithId = (id: string): fc.Arbitrary<Device> =>
  fc.record({ labels: labelsArb, arch: fc.constantFrom(...ARCHES) }).map((o) => device(id, o));

export const deviceArb: fc.Arbitrary<Device> = fc.constantFrom(...IDS).chain(deviceWithId);

/** Devices with unique ids. */
export const devicesArb = (maxLength: number = IDS.length): fc.Arbitrary<Device[]> =>
  fc.subarray([...IDS], { maxLength }).chain((ids) => fc.tuple(...ids.map(deviceWithId)));

/** One inventory: every id has one device; fleets drawn from it agree on what each id means. */
export const inventoryArb: fc.Arbitrary<Device[]> = fc.tuple(...IDS.map(deviceWithId));
export const fleetFrom = (inventory: ReadonlyArray<Device>): fc.Arbitrary<Fleet.Fleet> =>
  fc.subarray([...inventory]).map(Fleet.fromDevices);

/** The clauses a Kubernetes LabelSelector can express. */
const labelClauseArb: fc.Arbitrary<Selector> = fc.oneof(
  fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES)).map(([k, v]) => S.label(k, v)),
  fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES)).map(([k, v]) => S.labelNotEquals(k, v)),
  fc.tuple(fc.constantFrom(...KEYS), fc.subarray([...VALUES], { minLength: 1 })).map(([k, vs]) => S.labelIn(k, vs)),
  fc.tuple(fc.constantFrom(...KEYS), fc.subarray([...VALUES], { minLength: 1 })).map(([k, vs]) => S.labelNotIn(k, vs)),
  fc.constantFrom(...KEYS).map(S.hasLabel),
  fc.constantFrom(...KEYS).map(S.lacksLabel),
);

const leafArb: fc.Arbitrary<Selector> = fc.oneof(
  fc.constant(S.all),
  fc.constant(S.none),
  labelClauseArb,
  fc.tuple(fc.constantFrom(...KEYS), fc.integer({ min: -2, max: 9 })).map(([k, n]) => S.labelGt(k, n)),
  fc.tuple(fc.constantFrom(...KEYS), fc.integer({ min: -2, max: 9 })).map(([k, n]) => S.labelLt(k, n)),
  fc.constantFrom(...ARCHES).map(S.arch),
  fc.subarray([...IDS]).map((ids) => S.deviceIds(ids)),
);

export const selectorArb: fc.Arbitrary<Selector> = fc.letrec<{ sel: Selector }>((tie) => ({
  sel: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    fc.array(tie("sel"), { minLength: 0, maxLength: 3 }).map((xs) => S.and(...xs)),
    fc.array(tie("sel"), { minLength: 0, maxLength: 3 }).map((xs) => S.or(...xs)),
    tie("sel").map(S.not),
  ),
})).sel;

/** Selectors made only of conjoined label clauses (kubectl-expressible), possibly negated leaves. */
export const labelOnlySelectorArb: fc.Arbitrary<Selector> = fc.array(labelClauseArb, { maxLength: 4 }).map((xs) => S.and(...xs));

export const deploymentArb: fc.Arbitrary<Deployment> = fc
  .record({
    name: fc.constantFrom(...DEPLOYMENTS),
    image: fc.constantFrom("registry.local/app:1", "registry.local/app:2"),
    port: fc.option(fc.constantFrom(8080, 9090), { nil: undefined }),
    healthcheck: fc.option(fc.constantFrom({ command: "wget -q -O- localhost" }, { command: ["true"], interval: 5, retries: 2 }), { nil: undefined }),
  })
  .map(({ name, image, port, healthcheck }) =>
    deployment(
      name,
      podman({ services: [{ name: "main", image, ...(port !== undefined ? { ports: [{ container: 80, host: port }] } : {}), ...(healthcheck !== undefined ? { healthcheck } : {}) }] }),
    ),
  );

export const assignmentArb: fc.Arbitrary<Assignment> = fc
  .record({
    selector: selectorArb,
    deployments: fc.uniqueArray(deploymentArb, { minLength: 1, maxLength: 2, selector: (d) => d.name }),
    priority: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ selector, deployments, priority }) => assign(selector, deployments, { priority }));

/** Worlds with a declared fleet of unique devices (or none), and a few assignments. */
export const worldArb: fc.Arbitrary<World> = fc
  .record({ fleet: fc.option(devicesArb(), { nil: undefined }), assignments: fc.array(assignmentArb, { maxLength: 4 }) })
  .map((w) => world(w));

/** Worlds whose assignments never conflict (distinct priorities per deployment name would be complex; one spec per name). */
export const conflictFreeWorldArb: fc.Arbitrary<World> = fc
  .record({
    fleet: fc.option(devicesArb(), { nil: undefined }),
    selectors: fc.array(selectorArb, { maxLength: 4 }),
    specs: fc.tuple(...DEPLOYMENTS.map((name) => deploymentArb.map((d) => deployment(name, d.score)))),
  })
  .chain(({ fleet, selectors, specs }) =>
    fc.tuple(...selectors.map(() => fc.subarray(specs, { minLength: 1 }))).map((chosen) =>
      world({ ...(fleet !== undefined ? { fleet } : {}), assignments: selectors.map((s, i) => assign(s, chosen[i] as Deployment[])) }),
    ),
  );

// -------------------------------------------------------------------------------------
// realities
// -------------------------------------------------------------------------------------


export const NOW = new Date("2026-06-01T12:00:00Z");

/**
 * A Reality with some registered devices (some online, some offline), some
 * published entries (right, stale or for unknown deployments), observations
 * and, optionally, damaged devices.
 */
export const realityArb = (opts: { readonly damaged?: boolean } = {}): fc.Arbitrary<Reality> =>
  fc
    .record({
      devices: devicesArb(),
      heartbeatsAgo: fc.array(fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }), { minLength: IDS.length, maxLength: IDS.length }),
      desired: fc.array(fc.tuple(fc.constantFrom(...IDS), fc.constantFrom(...DEPLOYMENTS), deploymentArb, fc.nat(99)), { maxLength: 12 }),
      observed: fc.array(
        fc.tuple(fc.constantFrom(...IDS), fc.constantFrom(...DEPLOYMENTS), fc.constantFrom("Pending", "Running", "Failed") , deploymentArb, fc.constantFrom("starting", "healthy", "unhealthy")),
        { maxLength: 6 },
      ),
      damaged: opts.damaged === true ? fc.subarray([...IDS], { maxLength: 2 }) : fc.constant([] as string[]),
    })
    .map(({ devices, heartbeatsAgo, desired, observed, damaged }) =>
      reality({
        devices: devices.map((device, i) => {
          const ago = heartbeatsAgo[i];
          return ago === undefined ? { device } : { device, lastHeartbeat: new Date(NOW.getTime() - ago) };
        }),
        desired: desired.map(([device, deployment, spec, fp]) => ({
          device: device as DeviceId,
          deployment: deployment as DeploymentName,
          specHash: specHash(spec),
          fingerprint: `rev-${fp}`,
        })),
        observed: observed.map(([device, deployment, phase, spec, health]) => ({
          device: device as DeviceId,
          deployment: deployment as DeploymentName,
          phase,
          specHash: specHash(spec),
          // As agents report it: only a running spec that declares a health check has a health.
          ...(phase === "Running" && hasHealthCheck(spec) ? { health } : {}),
          ...(phase === "Failed" ? { error: "exit 1" } : {}),
          at: NOW,
        })),
        damaged: damaged.map((id) => [id as DeviceId, "bad JSON"] as const),
      }),
    );

// -------------------------------------------------------------------------------------
// worlds with every kind of conflict: redeclared devices, equal-priority specs,
// host ports bound twice, two volumes at one path
// -------------------------------------------------------------------------------------

const portArb = fc.record(
  {
    container: fc.constantFrom(80, 81),
    host: fc.constantFrom(8080, 9090),
    hostIp: fc.constantFrom("127.0.0.1", "10.0.0.1", "0.0.0.0"),
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
  },
  { requiredKeys: ["container"] },
);
const volumeArb = fc.record({ source: fc.constantFrom("a", "b", "/srv/c"), target: fc.constantFrom("/data", "/logs") });
const serviceArb = (name: string) =>
  fc.record({
    name: fc.constant(name),
    image: fc.constantFrom("registry.local/app:1", "registry.local/app:2"),
    ports: fc.array(portArb, { maxLength: 2 }),
    volumes: fc.array(volumeArb, { maxLength: 2 }),
  });

/** Deployments whose services may bind host ports (on some or every address) and mount volumes, so that they clash. */
export const clashyDeploymentArb: fc.Arbitrary<Deployment> = fc
  .tuple(fc.constantFrom(...DEPLOYMENTS), fc.subarray(["main", "side"], { minLength: 1 }).chain((names) => fc.tuple(...names.map(serviceArb))))
  .map(([name, services]) => deployment(name, podman({ services })));

const clashyAssignmentArb: fc.Arbitrary<Assignment> = fc
  .record({
    selector: selectorArb,
    deployments: fc.uniqueArray(clashyDeploymentArb, { minLength: 1, maxLength: 3, selector: (d) => d.name }),
    priority: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ selector, deployments, priority }) => assign(selector, deployments, { priority }));

/** One or two teams' worlds merged: devices may be declared twice differently, specs conflict, ports and mounts clash. */
export const clashyWorldArb: fc.Arbitrary<World> = fc
  .array(
    fc.record({ fleet: fc.option(devicesArb(4), { nil: undefined }), assignments: fc.array(clashyAssignmentArb, { maxLength: 3 }) }).map((w) => world(w)),
    { minLength: 1, maxLength: 2 },
  )
  .map((ws) => ws.reduce(WorldMonoid.concat, emptyWorld));

/** `realityArb({ damaged: true })` where some published entries carry their spec (as the local and NATS backends store it). */
export const clashyRealityArb: fc.Arbitrary<Reality> = fc
  .tuple(realityArb({ damaged: true }), fc.array(fc.option(clashyDeploymentArb, { nil: undefined }), { minLength: 12, maxLength: 12 }))
  .map(([r, specs]) => {
    let i = 0;
    const desired = new Map(
      [...r.desired].map(([id, m]) => [
        id,
        new Map(
          [...m].map(([name, e]) => {
            const s = specs[i++ % specs.length];
            if (s === undefined) return [name, e];
            const spec = deployment(name, s.score);
            return [name, { ...e, spec, specHash: specHash(spec) }];
          }),
        ),
      ]),
    );
    return { ...r, desired };
  });
