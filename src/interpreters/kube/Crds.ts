/**
 * The CustomResourceDefinitions through which the fleet is visible in
 * Kubernetes: `Device` and `FleetDeployment` in `fleet-algebra.dev/v1alpha1`.
 *
 * Contract:
 * - plain `apiextensions.k8s.io/v1` objects with structural schemas, a status
 *   subresource and printer columns, valid on Kubernetes 1.20 (no CEL rules,
 *   no defaults on list-map keys: the keys are `required` instead);
 * - lists whose items are owned per key under server-side apply are
 *   `x-kubernetes-list-type: map`, so an agent, the control plane and an
 *   operator can each own their own entries;
 * - every definition carries `fleet-algebra.dev/definition-hash`, the content
 *   hash of the rest of it: an installed CRD is current iff the hashes agree.
 *
 * The reference for what each field means is docs/kubernetes.md.
 */
import { contentHash } from "../../algebra/Canonical.ts";

export const GROUP = "fleet-algebra.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const DEFINITION_HASH_ANNOTATION = `${GROUP}/definition-hash`;
/** On a Device: the names of its desired entries, comma-separated, as of the control plane's last write. */
export const DEPLOYMENTS_ANNOTATION = `${GROUP}/deployments`;

export interface Resource {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
}

export const DEVICE: Resource = { kind: "Device", plural: "devices", singular: "device" };
export const FLEET_DEPLOYMENT: Resource = { kind: "FleetDeployment", plural: "fleetdeployments", singular: "fleetdeployment" };

export const crdName = (r: Resource): string => `${r.plural}.${GROUP}`;

// Kept in step with src/algebra: Name.ts (DNS label), Device.ts (arch), Labels.ts (label values).
const DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
const ARCH = "^[a-z0-9][a-z0-9_.-]{0,62}$";
const LABEL_VALUE = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
const SPEC_HASH = "^sha256:[0-9a-f]{64}$";

type Schema = Readonly<Record<string, unknown>>;

const str = (extra: Schema = {}): Schema => ({ type: "string", ...extra });
const count = (description: string): Schema => ({ type: "integer", minimum: 0, description });
const openObject = (description: string): Schema => ({ type: "object", "x-kubernetes-preserve-unknown-fields": true, description });
// Nullable: on 1.20, server-side apply leaves `null` when the last item of a list is let go of.
const listMap = (key: string, item: Schema, description: string): Schema => ({
  type: "array",
  nullable: true,
  description,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": [key],
  items: item,
});

const labelSelectorSchema: Schema = {
  type: "object",
  description: "The same selection as a Kubernetes LabelSelector (usable with kubectl get devices -l); absent when the selector needs more than labels.",
  properties: {
    matchLabels: { type: "object", additionalProperties: str() },
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: str(),
          operator: str({ enum: ["In", "NotIn", "Exists", "DoesNotExist"] }),
          values: { type: "array", items: str() },
        },
      },
    },
  },
};

const metadataSchema: Schema = {
  type: "object",
  properties: { name: str({ maxLength: 63, pattern: DNS_LABEL }) },
};

const deviceSchema: Schema = {
  type: "object",
  description: "An edge device: what its agent registered (labels, arch) and the deployments published to it.",
  properties: {
    apiVersion: str(),
    kind: str(),
    metadata: metadataSchema,
    spec: {
      type: "object",
      properties: {
        labels: {
          type: "object",
          description: "The device's labels as its agent reports them.",
          additionalProperties: str({ maxLength: 63, pattern: LABEL_VALUE }),
        },
        declaredLabels: {
          type: "object",
          // Letting go of the field leaves null on 1.20 (as with spec.deployments): null is "not declared".
          nullable: true,
          description:
            "The device's labels as the World declares them, when it declares the device; then they, not the reported ones, are what selectors see. metadata.labels holds the labels selectors see.",
          additionalProperties: str({ maxLength: 63, pattern: LABEL_VALUE }),
        },
        arch: str({ pattern: ARCH, description: "CPU architecture as uname -m says it; present iff the device registered." }),
        agentVersion: str(),
        inventory: openObject("Hardware and OS facts reported at registration."),
        deployments: listMap(
          "name",
          {
            type: "object",
            required: ["name", "specHash"],
            properties: {
              name: str({ maxLength: 63, pattern: DNS_LABEL }),
              specHash: str({ pattern: SPEC_HASH }),
              revision: str({ description: "The Device resourceVersion this entry was written against; with specHash, the entry's fingerprint." }),
              spec: openObject("The deployment to run: name, score, rollout."),
            },
          },
          "Desired state: one entry per deployment published to this device (owned by the control plane).",
        ),
      },
    },
    status: {
      type: "object",
      properties: {
        lastHeartbeat: str({ format: "date-time" }),
        summary: str({ description: "The reported phases, counted (e.g. \"Running 2, Failed 1\")." }),
        deployments: listMap(
          "name",
          {
            type: "object",
            required: ["name", "phase", "at"],
            properties: {
              name: str({ maxLength: 63, pattern: DNS_LABEL }),
              phase: str({ enum: ["Pending", "Running", "Failed"] }),
              specHash: str(),
              error: str(),
              health: str({ enum: ["starting", "healthy", "unhealthy"], description: "The health check's status, when the running spec declares one." }),
              at: str({ format: "date-time" }),
            },
          },
          "Observed state, as the agent reports it.",
        ),
      },
    },
  },
};

const variantSchema: Schema = {
  type: "object",
  required: ["id", "assignment", "selector", "priority", "specHash", "score", "rollout"],
  properties: {
    id: str({ description: "The assignment's content hash (names need not be unique)." }),
    assignment: str({ description: "The assignment's name." }),
    selector: str(),
    labelSelector: labelSelectorSchema,
    priority: { type: "integer" },
    specHash: str({ pattern: SPEC_HASH }),
    score: openObject("What to run."),
    rollout: openObject("How to roll it out."),
  },
};

const fleetDeploymentSchema: Schema = {
  type: "object",
  description: "A deployment of the World: where it goes (selector), what it runs, and how far it has come.",
  properties: {
    apiVersion: str(),
    kind: str(),
    metadata: metadataSchema,
    spec: {
      type: "object",
      required: ["selector", "variants"],
      properties: {
        selector: str({ description: "Every device some assignment gives this deployment to, in the fleet selector language." }),
        labelSelector: labelSelectorSchema,
        specHash: str({ pattern: SPEC_HASH, description: "Present when every variant runs the same spec." }),
        score: openObject("Present when every variant runs the same spec."),
        rollout: openObject("Present when every variant runs the same spec."),
        variants: listMap("id", variantSchema, "One entry per assignment that gives this deployment; on each device the highest priority wins."),
      },
    },
    status: {
      type: "object",
      properties: {
        matched: count("Devices the World gives this deployment."),
        published: count("Of those, devices whose desired state already holds the World's spec."),
        succeeded: count("Devices running the World's spec."),
        failed: count("Devices that report the World's spec failed."),
        pending: count("Online devices not (yet) running the World's spec."),
        offline: count("Devices whose heartbeat is stale, or that never registered."),
        lastError: {
          type: "object",
          properties: { device: str(), error: str(), at: str({ format: "date-time" }) },
        },
        rollout: {
          type: "object",
          description: "The staged rollout (docs/rollouts.md), as the next plan's step sees it.",
          properties: {
            state: str({ enum: ["Progressing", "Paused", "RolledBack", "Complete"] }),
            target: str({ description: "The spec hash being rolled out." }),
            wave: str({ description: "The last open wave, of all: \"2/4\"." }),
            waves: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  index: count("From 0."),
                  definition: str(),
                  gate: str({ enum: ["open", "waiting", "passed", "failed", "timed out"] }),
                  targeted: count("Devices in the wave."),
                  updated: count("Published at the target spec."),
                  succeeded: count("Running the target spec."),
                  failed: count("Failed at the target spec."),
                  pending: count("Not yet at the target spec."),
                  offline: count("Offline: updated when they return."),
                  openedAt: str({ format: "date-time" }),
                },
              },
            },
            budget: {
              type: "object",
              properties: {
                groups: count("Groups the budget holds in."),
                unavailable: count("Unavailable now, in the tightest group."),
                maxUnavailable: count("At most, in that group."),
                heldBack: count("Updates the budget holds back now."),
              },
            },
            failure: { type: "object", properties: { wave: count("The wave that failed, from 0."), reason: str() } },
          },
        },
      },
    },
  },
};

const column = (name: string, type: string, jsonPath: string, description: string, priority = 0): Schema => ({
  name,
  type,
  jsonPath,
  description,
  ...(priority > 0 ? { priority } : {}),
});

const definition = (r: Resource, shortNames: ReadonlyArray<string>, schema: Schema, columns: ReadonlyArray<Schema>): Readonly<Record<string, unknown>> => {
  const body = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: crdName(r), labels: { "app.kubernetes.io/managed-by": "fleet-algebra" } },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: { kind: r.kind, plural: r.plural, singular: r.singular, listKind: `${r.kind}List`, shortNames: [...shortNames], categories: ["fleet"] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: { status: {} },
          additionalPrinterColumns: [...columns],
        },
      ],
    },
  };
  return { ...body, metadata: { ...body.metadata, annotations: { [DEFINITION_HASH_ANNOTATION]: contentHash(body) } } };
};

const deviceCrd = definition(DEVICE, ["fdev"], deviceSchema, [
  column("Arch", "string", ".spec.arch", "CPU architecture"),
  // A column shows one value, never a list: the control plane keeps the names in an annotation.
  column("Deployments", "string", ".metadata.annotations.fleet-algebra\\.dev/deployments", "Deployments published to the device"),
  column("Heartbeat", "date", ".status.lastHeartbeat", "Time of the last heartbeat"),
  column("Age", "date", ".metadata.creationTimestamp", "Age"),
  column("Agent", "string", ".spec.agentVersion", "Agent version", 1),
  column("Observed", "string", ".status.summary", "Reported phases, counted", 1),
]);

const fleetDeploymentCrd = definition(FLEET_DEPLOYMENT, ["fdep"], fleetDeploymentSchema, [
  column("Selector", "string", ".spec.selector", "Devices it goes to"),
  column("Matched", "integer", ".status.matched", "Devices the World gives it"),
  column("Published", "integer", ".status.published", "Devices whose desired state holds the World's spec"),
  column("Succeeded", "integer", ".status.succeeded", "Devices running it"),
  column("Failed", "integer", ".status.failed", "Devices reporting failure"),
  column("Pending", "integer", ".status.pending", "Online devices not running it yet"),
  column("Rollout", "string", ".status.rollout.state", "Staged rollout: Progressing, Paused, RolledBack, Complete"),
  column("Wave", "string", ".status.rollout.wave", "The last open wave, of all"),
  column("Age", "date", ".metadata.creationTimestamp", "Age"),
  column("Offline", "integer", ".status.offline", "Devices offline or never registered", 1),
  column("Last-Error", "string", ".status.lastError.error", "Last error reported", 1),
]);

/** Both definitions, Device first. */
export const crds = (): ReadonlyArray<Readonly<Record<string, unknown>>> => [deviceCrd, fleetDeploymentCrd];

/** The definition hash an installed CRD must carry to be current. */
export const definitionHash = (crd: Readonly<Record<string, unknown>>): string =>
  ((crd.metadata as { annotations: Record<string, string> }).annotations[DEFINITION_HASH_ANNOTATION] as string);
