/**
 * A deployment: a validated name, a score (what to run) and a rollout (how).
 *
 * Scores and rollouts are tagged unions so that new variants (a newer podman
 * score, canary rollouts) are added without touching existing ones.
 *
 * Law: `specHash(a) === specHash(b)` iff `a` and `b` normalise to the same
 * canonical JSON (RFC 8785); key order, service order and defaults that were
 * spelled out do not change the hash. A service without a health check has
 * no `healthcheck` key at all, so adding the field changed no existing hash
 * (test/laws/deployment-hash.test.ts pins one).
 */
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as B from "fp-ts/lib/boolean.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import * as N from "fp-ts/lib/number.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";
import { DeploymentName, OrdDeploymentName, isDnsLabel, parseDeploymentName, formatInvalidName } from "./Name.ts";
import { contentHash } from "./Canonical.ts";
import { formatValidationErrors } from "./DecodeError.ts";
import { IMMEDIATE, RolloutCodec, type Rollout } from "./Rollout.ts";

export { IMMEDIATE, RolloutCodec } from "./Rollout.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type RestartPolicy = "no" | "always" | "on-failure" | "unless-stopped";

export interface PortMapping {
  readonly container: number;
  /** Host port; omitted means the same as `container`. */
  readonly host?: number;
  /** Host address to bind; omitted means every address. */
  readonly hostIp?: string;
  readonly protocol: "tcp" | "udp";
}

export interface VolumeMount {
  /** A host path (absolute) or a named volume. */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface Service {
  readonly name: string;
  readonly image: string;
  readonly env: Readonly<Record<string, string>>;
  readonly volumes: ReadonlyArray<VolumeMount>;
  readonly ports: ReadonlyArray<PortMapping>;
  readonly restart: RestartPolicy;
  /** Overrides the image's command when present. */
  readonly command?: ReadonlyArray<string>;
  /** Run inside the container by podman's health check; absent: started counts as healthy. */
  readonly healthcheck?: HealthCheck;
}

/**
 * podman's health check (`--health-cmd`, `--health-interval`, `--health-retries`,
 * `--health-start-period`, `--health-timeout`), in whole seconds. The command is
 * exec form; the shell form `"curl -f localhost"` is normalised to
 * `["/bin/sh", "-c", "curl -f localhost"]` (podman's `CMD-SHELL`), so the two
 * spellings of one check hash alike.
 */
export interface HealthCheck {
  readonly command: ReadonlyArray<string>;
  readonly intervalSeconds: number;
  /** Consecutive failures (after the start period) that make the container unhealthy. */
  readonly retries: number;
  /** Failures during this time after a start do not count. */
  readonly startPeriodSeconds: number;
  readonly timeoutSeconds: number;
}

export interface PodmanV0 {
  readonly _tag: "PodmanV0";
  readonly services: ReadonlyArray<Service>;
}

export type Score = PodmanV0;

export type { Immediate, Rollout, Waves } from "./Rollout.ts";

export interface Deployment {
  readonly name: DeploymentName;
  readonly score: Score;
  readonly rollout: Rollout;
}

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

const Port = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 65535, "Port");
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EnvName = t.refinement(t.string, (s) => ENV_NAME.test(s), "EnvName");
const NonEmpty = t.refinement(t.string, (s) => s.length > 0 && !/\s/.test(s), "NonEmptyString");
const ServiceName = t.refinement(t.string, isDnsLabel, "ServiceName");

const PortCodec = t.intersection([
  t.type({ container: Port }),
  t.partial({ host: Port, hostIp: t.string, protocol: t.keyof({ tcp: null, udp: null }) }),
]);
const VolumeCodec = t.intersection([
  t.type({ source: NonEmpty, target: t.refinement(t.string, (s) => s.startsWith("/"), "AbsolutePath") }),
  t.partial({ readOnly: t.boolean }),
]);
const wholeSeconds = (min: number, max: number, name: string) =>
  t.refinement(t.number, (n) => Number.isInteger(n) && n >= min && n <= max, name);
const DAY = 86_400;
const IntervalSeconds = wholeSeconds(1, DAY, "whole seconds from 1 to 86400");
const StartPeriodSeconds = wholeSeconds(0, DAY, "whole seconds from 0 to 86400");
const TimeoutSeconds = wholeSeconds(1, DAY, "whole seconds from 1 to 86400");
const isHealthCommand = (c: unknown): c is string | ReadonlyArray<string> =>
  typeof c === "string"
    ? c.trim() !== ""
    : Array.isArray(c) && c.length > 0 && c.every((w) => typeof w === "string") && c[0] !== "";
const HealthCommand = new t.Type<string | ReadonlyArray<string>, unknown, unknown>(
  "a shell command (a non-empty string) or a command list (exec form) whose first word is not empty",
  isHealthCommand,
  (u, c) => (isHealthCommand(u) ? t.success(u) : t.failure(u, c)),
  (x) => x,
);
// The short names are what people write; the `…Seconds` names are the normalised form, which is
// also accepted so that a stored spec (written as it is held) decodes to itself.
const HealthCheckFields = t.intersection([
  t.type({
    command: HealthCommand,
  }),
  t.partial({
    interval: IntervalSeconds,
    intervalSeconds: IntervalSeconds,
    retries: wholeSeconds(1, 1000, "a whole number from 1 to 1000"),
    startPeriod: StartPeriodSeconds,
    startPeriodSeconds: StartPeriodSeconds,
    timeout: TimeoutSeconds,
    timeoutSeconds: TimeoutSeconds,
  }),
]);
const HealthCheckInput = new t.Type<t.TypeOf<typeof HealthCheckFields>, unknown, unknown>(
  "HealthCheck",
  HealthCheckFields.is,
  (u, c) =>
    pipe(
      HealthCheckFields.validate(u, c),
      E.chain((h) => {
        for (const [short, long] of [["interval", "intervalSeconds"], ["startPeriod", "startPeriodSeconds"], ["timeout", "timeoutSeconds"]] as const)
          if (h[short] !== undefined && h[long] !== undefined && h[short] !== h[long])
            return t.failure(u, c, `healthcheck gives both ${short} (${h[short]}) and ${long} (${h[long]}); give one`);
        return t.success(h);
      }),
    ),
  (h) => h,
);
export type HealthCheckInput = t.TypeOf<typeof HealthCheckInput>;

/** podman's defaults: every 30 s, 3 retries, no start period, 30 s timeout. */
export const HEALTH_DEFAULTS = Object.freeze({ intervalSeconds: 30, retries: 3, startPeriodSeconds: 0, timeoutSeconds: 30 });

const RestartCodec = t.keyof({ no: null, always: null, "on-failure": null, "unless-stopped": null });

const ServiceInput = t.intersection([
  t.type({ name: ServiceName, image: NonEmpty }),
  t.partial({
    env: t.record(EnvName, t.string),
    volumes: t.array(VolumeCodec),
    ports: t.array(PortCodec),
    restart: RestartCodec,
    command: t.array(t.string),
    healthcheck: HealthCheckInput,
  }),
]);
export type ServiceInput = t.TypeOf<typeof ServiceInput>;

const PodmanV0Input = t.type({ _tag: t.literal("PodmanV0"), services: t.array(ServiceInput) });

// -------------------------------------------------------------------------------------
// instances (the canonical orders of a normalised spec)
// -------------------------------------------------------------------------------------

const OrdEnvEntry: Ord.Ord<readonly [string, string]> = Ord.contramap(([k]: readonly [string, string]) => k)(S.Ord);

/** By container path, then source and mode, so that even two mounts at one path (a clash) order canonically. */
export const OrdVolumeMount: Ord.Ord<VolumeMount> = concatAll(Ord.getMonoid<VolumeMount>())([
  Ord.contramap((v: VolumeMount) => v.target)(S.Ord),
  Ord.contramap((v: VolumeMount) => v.source)(S.Ord),
  Ord.contramap((v: VolumeMount) => v.readOnly)(B.Ord),
]);

/** By protocol and container port, then host port and address. */
export const OrdPortMapping: Ord.Ord<PortMapping> = concatAll(Ord.getMonoid<PortMapping>())([
  Ord.contramap((p: PortMapping) => p.protocol)(S.Ord),
  Ord.contramap((p: PortMapping) => p.container)(N.Ord),
  Ord.contramap((p: PortMapping) => p.host ?? p.container)(N.Ord),
  Ord.contramap((p: PortMapping) => p.hostIp ?? "")(S.Ord),
]);

export const OrdServiceByName: Ord.Ord<Service> = Ord.contramap((s: Service) => s.name)(S.Ord);

export const OrdDeploymentByName: Ord.Ord<Deployment> = Ord.contramap((d: Deployment) => d.name)(OrdDeploymentName);

const normaliseHealthCheck = (h: HealthCheckInput): HealthCheck =>
  Object.freeze({
    command: Object.freeze(typeof h.command === "string" ? ["/bin/sh", "-c", h.command] : [...h.command]),
    intervalSeconds: h.interval ?? h.intervalSeconds ?? HEALTH_DEFAULTS.intervalSeconds,
    retries: h.retries ?? HEALTH_DEFAULTS.retries,
    startPeriodSeconds: h.startPeriod ?? h.startPeriodSeconds ?? HEALTH_DEFAULTS.startPeriodSeconds,
    timeoutSeconds: h.timeout ?? h.timeoutSeconds ?? HEALTH_DEFAULTS.timeoutSeconds,
  });

const normaliseService = (s: ServiceInput): Service =>
  Object.freeze({
    name: s.name,
    image: s.image,
    env: Object.freeze(Object.fromEntries(Object.entries(s.env ?? {}).sort(OrdEnvEntry.compare))),
    volumes: Object.freeze(
      (s.volumes ?? []).map((v) => Object.freeze({ source: v.source, target: v.target, readOnly: v.readOnly ?? false })).sort(OrdVolumeMount.compare),
    ),
    ports: Object.freeze(
      (s.ports ?? [])
        .map((p) =>
          Object.freeze({
            container: p.container,
            ...(p.host !== undefined ? { host: p.host } : {}),
            ...(p.hostIp !== undefined ? { hostIp: p.hostIp } : {}),
            protocol: p.protocol ?? "tcp",
          }),
        )
        .sort(OrdPortMapping.compare),
    ),
    restart: s.restart ?? "no",
    ...(s.command !== undefined ? { command: Object.freeze([...s.command]) } : {}),
    ...(s.healthcheck !== undefined ? { healthcheck: normaliseHealthCheck(s.healthcheck) } : {}),
  });

/** Decodes a score, filling defaults and ordering services by name. */
export const ScoreCodec = new t.Type<Score, unknown, unknown>(
  "Score",
  (u): u is Score => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "PodmanV0",
  (u, c) =>
    pipe(
      PodmanV0Input.validate(u, c),
      E.chain((p) => {
        const names = p.services.map((s) => s.name);
        const dup = names.find((n, i) => names.indexOf(n) !== i);
        if (dup !== undefined) return t.failure(u, c, `service name ${JSON.stringify(dup)} is used twice`);
        if (p.services.length === 0) return t.failure(u, c, "a PodmanV0 score needs at least one service");
        return t.success<Score>(
          Object.freeze({ _tag: "PodmanV0", services: Object.freeze(p.services.map(normaliseService).sort(OrdServiceByName.compare)) }),
        );
      }),
    ),
  (s) => s,
);

export const DeploymentCodec = new t.Type<Deployment, unknown, unknown>(
  "Deployment",
  (u): u is Deployment => E.isRight(DeploymentInput.decode(u)),
  (u, c) =>
    pipe(
      DeploymentInput.validate(u, c),
      E.map((d) => makeDeployment(d.name, d.score, d.rollout ?? IMMEDIATE)),
    ),
  (d) => d,
);
const DeploymentInput = t.intersection([
  t.type({ name: DeploymentName, score: ScoreCodec }),
  t.partial({ rollout: RolloutCodec }),
]);

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const makeDeployment = (name: DeploymentName, score: Score, rollout: Rollout): Deployment =>
  Object.freeze({ name, score, rollout });

export class InvalidDeploymentError extends Error {
  override readonly name = "InvalidDeploymentError";
}

/** `podman({ services: [{ name: "web", image: "nginx:1.27", ports: [{ container: 80, host: 8080 }] }] })` */
export const podman = (input: { readonly services: ReadonlyArray<ServiceInput> }): Score =>
  pipe(
    ScoreCodec.decode({ _tag: "PodmanV0", services: input.services }),
    E.getOrElseW((errors) => {
      throw new InvalidDeploymentError(`invalid podman score: ${formatValidationErrors(errors)}`);
    }),
  );

export interface DeploymentOptions {
  readonly rollout?: Rollout;
}

/** `deployment("web", podman({...}))`; throws naming the bad name or field. */
export const deployment = (name: string, score: Score, opts: DeploymentOptions = {}): Deployment => {
  const parsed = parseDeploymentName(name);
  if (E.isLeft(parsed)) throw new InvalidDeploymentError(formatInvalidName(parsed.left));
  return pipe(
    DeploymentCodec.decode({ name, score, rollout: opts.rollout ?? IMMEDIATE }),
    E.getOrElseW((errors) => {
      throw new InvalidDeploymentError(`deployment ${JSON.stringify(name)}: ${formatValidationErrors(errors)}`);
    }),
  );
};

// -------------------------------------------------------------------------------------
// hashing
// -------------------------------------------------------------------------------------

// Deployments are frozen values shared by many devices: hash each object once.
const hashCache = new WeakMap<Deployment, string>();

/**
 * SHA-256 of the canonical JSON of what a device runs: the name and the score.
 * The rollout policy says how the spec is delivered, not what runs, so it is
 * hashed as `Immediate` whatever it is: changing a policy never republishes an
 * entry, and hashes of entries published before policies existed still match.
 */
export const specHash = (d: Deployment): string => {
  let h = hashCache.get(d);
  if (h === undefined) {
    h = contentHash({ name: d.name, score: d.score, rollout: IMMEDIATE });
    hashCache.set(d, h);
  }
  return h;
};

const identityCache = new WeakMap<Deployment, string>();
/**
 * SHA-256 of the whole deployment, rollout policy included: what tells two
 * deployments apart as values (assignment identity, conflicts), where
 * `specHash` tells apart what devices run.
 */
export const deploymentIdentity = (d: Deployment): string => {
  if (d.rollout._tag === "Immediate") return specHash(d);
  let h = identityCache.get(d);
  if (h === undefined) identityCache.set(d, (h = contentHash({ name: d.name, score: d.score, rollout: d.rollout })));
  return h;
};

const deliverableCache = new WeakMap<Deployment, Deployment>();
/**
 * The deployment as it is published to a device: its rollout policy replaced
 * by `Immediate` (agents have no use for it, and agents of earlier versions
 * decode only `Immediate`). Same spec hash.
 */
export const deliverable = (d: Deployment): Deployment => {
  if (d.rollout._tag === "Immediate") return d;
  let p = deliverableCache.get(d);
  if (p === undefined) deliverableCache.set(d, (p = Object.freeze({ name: d.name, score: d.score, rollout: IMMEDIATE })));
  return p;
};

/** Whether any service of the deployment declares a health check (then only `healthy` counts as available). */
export const hasHealthCheck = (d: Deployment): boolean => d.score.services.some((s) => s.healthcheck !== undefined);

/** The first 12 hex digits, for humans. */
export const shortHash = (h: string): string => h.replace(/^sha256:/, "").slice(0, 12);

/** Why a stored spec is not trusted: it does not hash to the hash stored with it (every backend's read says it so). */
export const specMismatch = (stated: string, actual: string): string => `spec does not match its hash (states ${shortHash(stated)}, content hashes to ${shortHash(actual)})`;

export const matchScore = <R>(cases: { readonly PodmanV0: (s: PodmanV0) => R }) => (s: Score): R => {
  switch (s._tag) {
    case "PodmanV0":
      return cases.PodmanV0(s);
  }
};
