/**
 * The few Kubernetes API calls the interpreter makes, with failures as values.
 *
 * Every call returns `Either<ApiFailure, unknown>`: the raw JSON the server
 * sent (callers decode it with io-ts) or a classified failure. Nothing here
 * throws for an HTTP or network error, so one failed write stays one failed
 * action.
 *
 * All calls go through the generic `/apis/{group}/{version}/…` client
 * (`CustomObjectsApi`), also for CustomResourceDefinitions: its bodies and
 * answers are plain JSON, where the typed clients would rename fields such
 * as `x-kubernetes-list-type` on the way.
 *
 * Server-side apply: `PATCH` with content type `application/apply-patch+yaml`
 * (JSON is YAML), a `fieldManager`, and `force` only when asked. A body that
 * carries `metadata.resourceVersion` makes the write conditional on it.
 */
import * as S from "fp-ts/lib/string.js";
import * as Ord from "fp-ts/lib/Ord.js";
import * as E from "fp-ts/lib/Either.js";
import { ApiException, CustomObjectsApi, PatchStrategy, VersionApi, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import type { Resource } from "./Crds.ts";
import { GROUP, VERSION } from "./Crds.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A field that another field manager owns, from a server-side apply conflict. */
export interface FieldConflict {
  readonly manager: string;
  /** As the server prints it, e.g. `.spec.deployments[name="web"].specHash`. */
  readonly field: string;
}

export type ApiFailure =
  | { readonly _tag: "Unreachable"; readonly message: string }
  | { readonly _tag: "NotFound"; readonly message: string }
  | { readonly _tag: "AlreadyExists"; readonly message: string }
  /** A resourceVersion precondition failed: the object changed since it was read. */
  | { readonly _tag: "Modified"; readonly message: string }
  | { readonly _tag: "FieldConflicts"; readonly conflicts: ReadonlyArray<FieldConflict>; readonly message: string }
  /** The object violates the CRD's schema (HTTP 422). */
  | { readonly _tag: "Invalid"; readonly message: string }
  | { readonly _tag: "Denied"; readonly code: number; readonly message: string }
  | { readonly _tag: "Other"; readonly code: number; readonly message: string };

export type ApiResult = E.Either<ApiFailure, unknown>;

export const formatFailure = (f: ApiFailure): string => {
  switch (f._tag) {
    case "FieldConflicts":
      return `field conflict: ${f.conflicts.map((c) => `${c.field} is owned by field manager ${JSON.stringify(c.manager)}`).join("; ")}`;
    default:
      return f.message;
  }
};

// -------------------------------------------------------------------------------------
// classification
// -------------------------------------------------------------------------------------

interface StatusBody {
  readonly message?: string;
  readonly reason?: string;
  readonly details?: { readonly causes?: ReadonlyArray<{ readonly reason?: string; readonly type?: string; readonly message?: string; readonly field?: string }> };
}

const parseStatus = (body: unknown): StatusBody => {
  if (typeof body === "string") {
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === "object" && parsed !== null ? (parsed as StatusBody) : { message: body };
    } catch {
      return { message: body.trim() };
    }
  }
  return typeof body === "object" && body !== null ? (body as StatusBody) : {};
};

const MANAGER = /conflict with "([^"]*)"/;

export const classify = (e: unknown, server: string): ApiFailure => {
  if (!(e instanceof ApiException)) {
    const message = errorMessage(e);
    return { _tag: "Unreachable", message: `cannot reach the Kubernetes API server at ${server}: ${message}` };
  }
  const code = e.code;
  const status = parseStatus(e.body);
  const message = status.message ?? `HTTP ${code}`;
  if (code === 401 || code === 403) return { _tag: "Denied", code, message: `${code === 401 ? "unauthorized" : "forbidden"}: ${message}` };
  if (code === 404) return { _tag: "NotFound", message };
  if (code === 422) return { _tag: "Invalid", message };
  if (code === 409) {
    if (status.reason === "AlreadyExists") return { _tag: "AlreadyExists", message };
    // The cause's kind is in `reason` on the wire (`type` in the Go struct's older spelling).
    const causes = (status.details?.causes ?? []).filter((c) => (c.reason ?? c.type) === "FieldManagerConflict");
    if (causes.length > 0) {
      const conflicts = causes
        .map((c) => ({ manager: MANAGER.exec(c.message ?? "")?.[1] ?? "unknown", field: c.field ?? "" }))
        .sort(Ord.contramap((c: FieldConflict) => c.field)(S.Ord).compare);
      return { _tag: "FieldConflicts", conflicts, message };
    }
    return { _tag: "Modified", message };
  }
  return { _tag: "Other", code, message };
};

// -------------------------------------------------------------------------------------
// calls
// -------------------------------------------------------------------------------------

export interface ListOptions {
  readonly labelSelector?: string;
}

export interface Api {
  readonly server: string;
  list(r: Resource, namespace: string, options?: ListOptions): Promise<E.Either<ApiFailure, ReadonlyArray<unknown>>>;
  get(r: Resource, namespace: string, name: string): Promise<ApiResult>;
  create(r: Resource, namespace: string, body: object, fieldManager: string): Promise<ApiResult>;
  /** Server-side apply of the object (`status` is ignored by the server). */
  apply(r: Resource, namespace: string, name: string, body: object, fieldManager: string, force: boolean): Promise<ApiResult>;
  /** Server-side apply of the status subresource. */
  applyStatus(r: Resource, namespace: string, name: string, body: object, fieldManager: string, force: boolean): Promise<ApiResult>;
  /** JSON merge patch of the status subresource (touches only the fields given). */
  mergeStatus(r: Resource, namespace: string, name: string, body: object, fieldManager: string): Promise<ApiResult>;
  /** Deletes; with `resourceVersion`, only if the object is still at it. */
  remove(r: Resource, namespace: string, name: string, resourceVersion?: string): Promise<ApiResult>;
  removeAll(r: Resource, namespace: string): Promise<ApiResult>;
  applyCrd(name: string, body: object, fieldManager: string): Promise<ApiResult>;
  getCrd(name: string): Promise<ApiResult>;
  /** `GET /version`: is anyone there, and who. */
  version(): Promise<ApiResult>;
}

const PAGE = 500;

const applyHeader = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
const mergeHeader = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

const CRD = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" } as const;

export const makeApi = (config: KubeConfig, server: string): Api => {
  const custom = config.makeApiClient(CustomObjectsApi);
  const attempt = async (call: () => Promise<unknown>): Promise<ApiResult> => {
    try {
      return E.right(await call());
    } catch (e) {
      return E.left(classify(e, server));
    }
  };
  const at = (r: Resource, namespace: string) => ({ group: GROUP, version: VERSION, namespace, plural: r.plural });

  return {
    server,
    list: async (r, namespace, options = {}) => {
      const items: unknown[] = [];
      let continueToken: string | undefined;
      do {
        const page = await attempt(() =>
          custom.listNamespacedCustomObject({
            ...at(r, namespace),
            limit: PAGE,
            ...(continueToken !== undefined ? { _continue: continueToken } : {}),
            ...(options.labelSelector !== undefined ? { labelSelector: options.labelSelector } : {}),
          }),
        );
        if (E.isLeft(page)) return page;
        const body = page.right as { items?: unknown; metadata?: { continue?: unknown } };
        if (Array.isArray(body.items)) items.push(...(body.items as unknown[]));
        continueToken = typeof body.metadata?.continue === "string" && body.metadata.continue !== "" ? body.metadata.continue : undefined;
      } while (continueToken !== undefined);
      return E.right(items);
    },
    get: (r, namespace, name) => attempt(() => custom.getNamespacedCustomObject({ ...at(r, namespace), name })),
    create: (r, namespace, body, fieldManager) => attempt(() => custom.createNamespacedCustomObject({ ...at(r, namespace), body, fieldManager })),
    apply: (r, namespace, name, body, fieldManager, force) =>
      attempt(() => custom.patchNamespacedCustomObject({ ...at(r, namespace), name, body, fieldManager, ...(force ? { force } : {}) }, applyHeader)),
    applyStatus: (r, namespace, name, body, fieldManager, force) =>
      attempt(() => custom.patchNamespacedCustomObjectStatus({ ...at(r, namespace), name, body, fieldManager, ...(force ? { force } : {}) }, applyHeader)),
    mergeStatus: (r, namespace, name, body, fieldManager) =>
      attempt(() => custom.patchNamespacedCustomObjectStatus({ ...at(r, namespace), name, body, fieldManager }, mergeHeader)),
    remove: (r, namespace, name, resourceVersion) =>
      attempt(() =>
        custom.deleteNamespacedCustomObject({
          ...at(r, namespace),
          name,
          ...(resourceVersion !== undefined ? { body: { preconditions: { resourceVersion } } } : {}),
        }),
      ),
    removeAll: (r, namespace) => attempt(() => custom.deleteCollectionNamespacedCustomObject({ ...at(r, namespace) })),
    applyCrd: (name, body, fieldManager) =>
      attempt(() => custom.patchClusterCustomObject({ ...CRD, name, body, fieldManager, force: true }, applyHeader)),
    getCrd: (name) => attempt(() => custom.getClusterCustomObject({ ...CRD, name })),
    version: () => attempt(() => config.makeApiClient(VersionApi).getCode()),
  };
};
