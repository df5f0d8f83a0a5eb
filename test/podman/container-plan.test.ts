/**
 * The pure parts of the podman interpreter, without podman: the container
 * plan's laws (fast-check, fixed seed from test/laws/setup.ts), the service
 * to container mapping, the phase rules and the host's device identity.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deployment, podman, specHash, type Deployment } from "../../src/algebra/Deployment.ts";
import { isDnsLabel, type DeploymentName } from "../../src/algebra/Name.ts";
import { planContainers, type ContainerStep } from "../../src/interpreters/podman/ContainerPlan.ts";
import { containerName, createBody, containerLabels, LABEL_MANAGED } from "../../src/interpreters/podman/ContainerSpec.ts";
import { decodeListItem, type ManagedContainer } from "../../src/interpreters/podman/Containers.ts";
import { deploymentStatus, type DeploymentView } from "../../src/interpreters/podman/DeploymentPhase.ts";
import type { Health } from "../../src/diff/Reality.ts";
import { hostDeviceId, unameArch } from "../../src/interpreters/podman/HostDevice.ts";
import { groupSpecHash } from "../../src/interpreters/podman/PodmanBackend.ts";

// -------------------------------------------------------------------------------------
// a model of podman for the plan: steps applied to a container list
// -------------------------------------------------------------------------------------

let nextId = 0;
const made = (d: Deployment, service: string, state = "running"): ManagedContainer => ({
  id: `id-${String(++nextId).padStart(6, "0")}`,
  name: containerName(d.name, service),
  deployment: d.name,
  service,
  specHash: specHash(d),
  services: d.score.services.map((s) => s.name).sort(),
  state,
  exitCode: 0,
  startedAt: 1,
});

/** What podman ends up with when every step succeeds. */
const applySteps = (containers: ReadonlyArray<ManagedContainer>, steps: ReadonlyArray<ContainerStep>): ManagedContainer[] => {
  let out = [...containers];
  for (const s of steps) {
    if (s._tag === "Remove") out = out.filter((c) => c.id !== s.container.id);
    else if (s._tag === "Create") out.push(made(s.deployment, s.service.name));
    else out = out.map((c) => (c.id === s.container.id ? { ...c, state: "running" } : c));
  }
  return out;
};

// -------------------------------------------------------------------------------------
// arbitraries: a few names and spec variants, so that plans keep, replace and remove
// -------------------------------------------------------------------------------------

const NAMES = ["web", "db", "cache", "old"] as const;
const SERVICES = ["a", "b", "c"] as const;
// A container's service is always one of its spec's: the spec hash covers the service list.
const STATES = ["running", "running", "created", "exited", "stopped", "paused", "configured"] as const;
const RESTARTS = ["no", "always", "on-failure", "unless-stopped"] as const;

const specArb = (name: string): fc.Arbitrary<Deployment> =>
  fc
    .record({
      services: fc.subarray([...SERVICES], { minLength: 1 }),
      tag: fc.constantFrom("1", "2"),
      restart: fc.constantFrom(...RESTARTS),
    })
    .map(({ services, tag, restart }) => deployment(name, podman({ services: services.map((s) => ({ name: s, image: `localhost/img-${s}:${tag}`, restart })) })));

const desiredArb: fc.Arbitrary<Deployment[]> = fc
  .subarray(["web", "db", "cache"], { minLength: 0 })
  .chain((names) => (names.length === 0 ? fc.constant([]) : fc.tuple(...names.map(specArb))));

/** Containers podman may hold: of desired specs or others, in any state, some with non-canonical names. */
const containersArb = (desired: ReadonlyArray<Deployment>): fc.Arbitrary<ManagedContainer[]> =>
  fc
    .array(
      fc.record({
        spec: fc.oneof(fc.constantFrom(...(desired.length > 0 ? desired : [undefined])), fc.constantFrom(...NAMES).chain(specArb)),
        pick: fc.nat(),
        state: fc.constantFrom(...STATES),
        canonical: fc.boolean(),
      }),
      { maxLength: 8 },
    )
    .map((rows) => {
      const names = new Set<string>();
      const out: ManagedContainer[] = [];
      rows.forEach((r, i) => {
        if (r.spec === undefined) return;
        const services = r.spec.score.services;
        const c = made(r.spec, services[r.pick % services.length]!.name, r.state);
        const name = r.canonical ? c.name : `${c.name}-copy${i}`;
        if (names.has(name)) return; // podman names are unique
        names.add(name);
        out.push({ ...c, name });
      });
      return out;
    });

const scenarioArb = desiredArb.chain((desired) => containersArb(desired).map((containers) => ({ desired, containers })));

// -------------------------------------------------------------------------------------
// laws
// -------------------------------------------------------------------------------------

describe("planContainers laws", () => {
  it("convergence: planning against the plan's result gives no steps", () => {
    fc.assert(
      fc.property(scenarioArb, ({ desired, containers }) => {
        const after = applySteps(containers, planContainers(desired, containers));
        expect(planContainers(desired, after)).toEqual([]);
      }),
    );
  });

  it("soundness: afterwards every container belongs to a desired deployment at its spec hash", () => {
    fc.assert(
      fc.property(scenarioArb, ({ desired, containers }) => {
        const after = applySteps(containers, planContainers(desired, containers));
        const hashes = new Map(desired.map((d) => [d.name as string, specHash(d)]));
        for (const c of after) expect(hashes.get(c.deployment)).toBe(c.specHash);
      }),
    );
  });

  it("completeness: afterwards every desired service has exactly one container, under its canonical name", () => {
    fc.assert(
      fc.property(scenarioArb, ({ desired, containers }) => {
        const after = applySteps(containers, planContainers(desired, containers));
        const expected = desired.flatMap((d) => d.score.services.map((s) => containerName(d.name, s.name))).sort();
        expect(after.map((c) => c.name).sort()).toEqual(expected);
      }),
    );
  });

  it("necessity: a running container at the desired spec hash is never removed or restarted", () => {
    fc.assert(
      fc.property(scenarioArb, ({ desired, containers }) => {
        const steps = planContainers(desired, containers);
        const touched = new Set(steps.flatMap((s) => (s._tag === "Create" ? [] : [s.container.id])));
        const hashes = new Map(desired.map((d) => [d.name as string, specHash(d)]));
        for (const c of containers)
          if (c.state === "running" && c.name === containerName(c.deployment, c.service) && hashes.get(c.deployment) === c.specHash)
            expect(touched.has(c.id)).toBe(false);
      }),
    );
  });

  it("order: removals come first, then deployments and services in name order; equal inputs give equal plans", () => {
    fc.assert(
      fc.property(scenarioArb, ({ desired, containers }) => {
        const steps = planContainers(desired, containers);
        const firstOther = steps.findIndex((s) => s._tag !== "Remove");
        if (firstOther >= 0) expect(steps.slice(firstOther).every((s) => s._tag !== "Remove")).toBe(true);
        const keys = steps.flatMap((s) => (s._tag === "Remove" ? [] : [`${s.deployment.name}/${s.service.name}`]));
        expect(keys).toEqual([...keys].sort());
        expect(planContainers([...desired].reverse(), [...containers].reverse())).toEqual(steps);
      }),
    );
  });

  it("a container is started only when it never ran, or ended under restart: always", () => {
    const d = (restart: "no" | "always") => deployment("web", podman({ services: [{ name: "a", image: "i", restart }] }));
    const tags = (restart: "no" | "always", state: string) => planContainers([d(restart)], [made(d(restart), "a", state)]).map((s) => s._tag);
    expect(tags("no", "created")).toEqual(["Start"]);
    expect(tags("no", "exited")).toEqual([]);
    expect(tags("always", "exited")).toEqual(["Start"]);
    expect(tags("always", "running")).toEqual([]);
    expect(tags("always", "paused")).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------
// mapping
// -------------------------------------------------------------------------------------

describe("service to container mapping", () => {
  const d = deployment(
    "shop",
    podman({
      services: [
        {
          name: "api",
          image: "registry.local/api:2",
          env: { B: "2", A: "1" },
          volumes: [
            { source: "/srv/data", target: "/data", readOnly: true },
            { source: "cache", target: "/cache" },
          ],
          ports: [
            { container: 8080, host: 18080, hostIp: "127.0.0.1" },
            { container: 53, protocol: "udp" },
          ],
          restart: "on-failure",
          command: ["api", "--listen", ":8080"],
        },
      ],
    }),
  );
  const service = d.score.services[0]!;

  it("passes every field through, with the host port defaulting to the container's", () => {
    expect(createBody(d, service, 7)).toEqual({
      name: "fleet_shop_api",
      image: "registry.local/api:2",
      labels: containerLabels(d, service),
      env: { A: "1", B: "2" },
      command: ["api", "--listen", ":8080"],
      restart_policy: "on-failure",
      portmappings: [
        { container_port: 8080, host_port: 18080, host_ip: "127.0.0.1", protocol: "tcp" },
        { container_port: 53, host_port: 53, protocol: "udp" },
      ],
      mounts: [{ destination: "/data", source: "/srv/data", type: "bind", options: ["ro"] }],
      volumes: [{ Name: "cache", Dest: "/cache", Options: ["rw"] }],
      stop_timeout: 7,
    });
  });

  it("labels name the deployment, the service, the spec hash and the deployment's services", () => {
    expect(containerLabels(d, service)).toEqual({
      "io.fleet-algebra.managed": "true",
      "io.fleet-algebra.deployment": "shop",
      "io.fleet-algebra.service": "api",
      "io.fleet-algebra.spec-hash": specHash(d),
      "io.fleet-algebra.services": "api",
    });
  });

  it("names are injective: '_' cannot occur in a DNS label", () => {
    expect(containerName("a-b", "c")).not.toBe(containerName("a", "b-c"));
  });

  it("gives podman the health check in exec form, durations in nanoseconds, and nothing when none is declared", () => {
    const checked = deployment("x", podman({ services: [{ name: "s", image: "i", healthcheck: { command: "wget -q localhost", interval: 5, retries: 2, startPeriod: 10, timeout: 3 } }] }));
    expect(createBody(checked, checked.score.services[0]!, 10).healthconfig).toEqual({
      Test: ["CMD", "/bin/sh", "-c", "wget -q localhost"],
      Interval: 5e9,
      Retries: 2,
      StartPeriod: 10e9,
      Timeout: 3e9,
    });
    expect("healthconfig" in createBody(d, service, 10)).toBe(false);
  });

  it("omits the command when the service keeps the image's", () => {
    const plain = deployment("x", podman({ services: [{ name: "s", image: "i" }] }));
    expect("command" in createBody(plain, plain.score.services[0]!, 10)).toBe(false);
  });

  it("decodes podman's listing; a managed container with bad labels is a problem naming it", () => {
    const ok = decodeListItem({
      Id: "abc",
      Names: ["fleet_shop_api"],
      State: "running",
      Labels: containerLabels(d, service),
      ExitCode: 0,
      StartedAt: 5,
      SomethingNew: { x: 1 },
    });
    expect(ok).toMatchObject({ id: "abc", deployment: "shop", service: "api", specHash: specHash(d), services: ["api"], state: "running" });
    const bad = decodeListItem({ Id: "def", Names: ["odd"], Labels: { [LABEL_MANAGED]: "true", "io.fleet-algebra.deployment": "Not_A_Label" } });
    expect(bad).toEqual({ key: "odd", problem: expect.stringContaining("not a valid deployment name") });
    expect(decodeListItem({ Names: 3 })).toEqual({ key: "?", problem: "unexpected container record from podman" });
  });
});

// -------------------------------------------------------------------------------------
// phase rules
// -------------------------------------------------------------------------------------

describe("deployment phase", () => {
  const view: DeploymentView = { name: "web" as DeploymentName, specHash: "sha256:x", services: ["a", "b"], restart: { a: "always", b: "no" } };
  const c = (service: string, state: string, exitCode = 0): ManagedContainer => ({
    id: `id-${service}`,
    name: containerName("web", service),
    deployment: "web" as DeploymentName,
    service,
    specHash: "sha256:x",
    services: ["a", "b"],
    state,
    exitCode,
    startedAt: 1,
  });

  it("Running only when every service's container runs", () => {
    expect(deploymentStatus(view, [{ service: "a", container: c("a", "running") }, { service: "b", container: c("b", "running") }])).toEqual({
      deployment: "web",
      phase: "Running",
      specHash: "sha256:x",
    });
    expect(deploymentStatus(view, [{ service: "a", container: c("a", "running") }, { service: "b" }]).phase).toBe("Pending");
  });

  it("a running deployment carries the worst health of the services that declare a check; a deployment not running carries none", () => {
    const run = (a: Health | undefined, b: Health | undefined) =>
      deploymentStatus(view, [
        { service: "a", container: c("a", "running"), ...(a !== undefined ? { health: a } : {}) },
        { service: "b", container: c("b", "running"), ...(b !== undefined ? { health: b } : {}) },
      ]).health;
    expect(run(undefined, undefined)).toBe(undefined);
    expect(run("healthy", undefined)).toBe("healthy");
    expect(run("healthy", "starting")).toBe("starting");
    expect(run("unhealthy", "starting")).toBe("unhealthy");
    expect(run("healthy", "unhealthy")).toBe("unhealthy");
    expect("health" in deploymentStatus(view, [{ service: "a", container: c("a", "running"), health: "healthy" }, { service: "b" }])).toBe(false);
  });

  it("Failed with podman's error when a service could not be created or started", () => {
    const s = deploymentStatus(view, [
      { service: "a", error: 'image "x" not found' },
      { service: "b", container: c("b", "created"), error: "address already in use" },
    ]);
    expect(s).toEqual({
      deployment: "web",
      phase: "Failed",
      specHash: "sha256:x",
      error: 'service a: image "x" not found; service b: address already in use',
    });
  });

  it("an exited container is Pending when podman restarts it, Failed when nothing will", () => {
    const restarting = deploymentStatus(view, [{ service: "a", container: c("a", "exited", 3) }, { service: "b", container: c("b", "running") }]);
    expect(restarting.phase).toBe("Pending");
    expect(restarting.error).toContain("exited with code 3");
    const dead = deploymentStatus(view, [{ service: "a", container: c("a", "running") }, { service: "b", container: c("b", "exited", 3) }]);
    expect(dead).toMatchObject({ phase: "Failed", error: 'service b exited with code 3 and restart policy "no" does not restart it' });
  });

  it("on-failure restarts only after a non-zero exit (policy from inspect when the spec is unknown)", () => {
    const v: DeploymentView = { name: "web" as DeploymentName, specHash: "sha256:x", services: ["a"] };
    const detail = { restartPolicy: "on-failure", restartCount: 2, error: "" };
    expect(deploymentStatus(v, [{ service: "a", container: c("a", "exited", 1), detail }]).phase).toBe("Pending");
    expect(deploymentStatus(v, [{ service: "a", container: c("a", "exited", 0), detail }]).phase).toBe("Failed");
  });
});

// -------------------------------------------------------------------------------------
// backend's desired-entry hash and the host's identity
// -------------------------------------------------------------------------------------

describe("desired entries read from containers", () => {
  const d = deployment("web", podman({ services: [{ name: "a", image: "i" }, { name: "b", image: "i" }] }));
  it("carry the spec hash only when every service has its container at that hash", () => {
    expect(groupSpecHash({ name: d.name, containers: [made(d, "a"), made(d, "b")] })).toBe(specHash(d));
    expect(groupSpecHash({ name: d.name, containers: [made(d, "a")] })).toBe(`incomplete:${specHash(d)}`);
    const other = deployment("web", podman({ services: [{ name: "a", image: "j" }] }));
    expect(groupSpecHash({ name: d.name, containers: [made(d, "a"), made(other, "a")] })).toMatch(/^mixed:/);
  });
});

describe("host identity", () => {
  it("hostDeviceId always gives a DNS label, and keeps one that already is", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        expect(isDnsLabel(hostDeviceId(s))).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,30}[a-z0-9])?$/), (s) => {
        expect(hostDeviceId(s)).toBe(s);
      }),
    );
    expect(hostDeviceId("Pi-01.lan")).toBe("pi-01");
    expect(hostDeviceId("my_box")).toBe("my-box");
    expect(hostDeviceId("...")).toBe("localhost");
  });

  it("arch uses uname names", () => {
    expect(unameArch("x64")).toBe("x86_64");
    expect(unameArch("arm64")).toBe("aarch64");
    expect(unameArch("riscv64")).toBe("riscv64");
  });
});
