/**
 * Who owns which desired entry, read from an object's `managedFields`
 * (server-side apply's record, format `FieldsV1`).
 *
 * An entry of the list-map `spec.deployments` appears in a manager's field
 * set as `f:spec` → `f:deployments` → `k:{"name":"web"}`. Used to name the
 * other managers that still hold an entry the control plane let go of: under
 * server-side apply, omitting an entry removes it only when no one else owns
 * it.
 */
import * as S from "fp-ts/lib/string.js";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";

/** The control plane's field manager: it owns `spec.deployments` entries and FleetDeployments. */
export const CONTROL_PLANE = "fleet-algebra";
/** The agents' field manager: registration fields and the Device status. */
export const AGENT = "fleet-agent";

const ManagedFieldsEntry = t.intersection([
  t.type({ manager: t.string }),
  t.partial({ operation: t.string, subresource: t.string, fieldsV1: t.UnknownRecord }),
]);

const child = (node: unknown, key: string): unknown =>
  typeof node === "object" && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;

const entryKeyName = (key: string): string | undefined => {
  if (!key.startsWith("k:")) return undefined;
  try {
    const parsed: unknown = JSON.parse(key.slice(2));
    const name = child(parsed, "name");
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
};

const entryNames = (fieldsV1: unknown): ReadonlyArray<string> => {
  const list = child(child(fieldsV1, "f:spec"), "f:deployments");
  if (typeof list !== "object" || list === null) return [];
  const out: string[] = [];
  for (const key of Object.keys(list)) {
    const name = entryKeyName(key);
    if (name !== undefined) out.push(name);
  }
  return out;
};

/** The entries of `spec.deployments` that `manager` holds through server-side apply. */
export const appliedEntries = (managedFields: ReadonlyArray<unknown>, manager: string): ReadonlySet<string> => {
  const names = new Set<string>();
  for (const raw of managedFields) {
    const m = ManagedFieldsEntry.decode(raw);
    if (E.isLeft(m) || m.right.manager !== manager || m.right.operation !== "Apply" || (m.right.subresource ?? "") !== "") continue;
    for (const n of entryNames(m.right.fieldsV1)) names.add(n);
  }
  return names;
};

/** The managers (sorted, other than `except`) that own the entry `name` of `spec.deployments`. */
export const entryOwners = (managedFields: ReadonlyArray<unknown>, name: string, except: string): ReadonlyArray<string> => {
  const owners = new Set<string>();
  for (const raw of managedFields) {
    const m = ManagedFieldsEntry.decode(raw);
    if (E.isLeft(m) || m.right.manager === except) continue;
    if (entryNames(m.right.fieldsV1).includes(name)) owners.add(m.right.manager);
  }
  return [...owners].sort(S.Ord.compare);
};

/** The deployment name a conflicting field path such as `.spec.deployments[name="web"].specHash` is about. */
export const entryOfField = (field: string): string | undefined => /^\.spec\.deployments\[name="([^"]*)"\]/.exec(field)?.[1];
