/**
 * Kubernetes label keys and values, with Kubernetes' validation rules, so that
 * a selector that parses here parses in `kubectl get -l` and means the same.
 *
 * - key: `[prefix/]name`; name is 1-63 chars `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`;
 *   prefix is a DNS-1123 subdomain of at most 253 chars.
 * - value: empty, or 1-63 chars of the same form as a name.
 */
import * as S from "fp-ts/lib/string.js";
import * as t from "io-ts";

export type Labels = Readonly<Record<string, string>>;

const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label key, or undefined when it is. */
export const labelKeyProblem = (key: string): string | undefined => {
  const slash = key.indexOf("/");
  const [prefix, name] = slash === -1 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined) {
    if (prefix.length === 0) return "prefix part must not be empty";
    if (prefix.length > 253) return "prefix part must be at most 253 characters";
    if (!SUBDOMAIN.test(prefix)) return "prefix part must be a lower-case DNS subdomain";
  }
  if (name.length === 0) return "name part must not be empty";
  if (name.length > 63) return "name part must be at most 63 characters";
  if (!NAME.test(name))
    return "name part must consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric";
  return undefined;
};

/** Why `value` is not a valid label value, or undefined when it is. */
export const labelValueProblem = (value: string): string | undefined => {
  if (value.length === 0) return undefined;
  if (value.length > 63) return "must be at most 63 characters";
  if (!NAME.test(value)) return "must consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric";
  return undefined;
};

export const isLabelKey = (k: string): boolean => labelKeyProblem(k) === undefined;
export const isLabelValue = (v: string): boolean => labelValueProblem(v) === undefined;

/** Codec for a label map whose keys and values are all valid. */
export const LabelsCodec = new t.Type<Labels, Record<string, string>, unknown>(
  "Labels",
  (u): u is Labels =>
    typeof u === "object" &&
    u !== null &&
    Object.entries(u).every(([k, v]) => typeof v === "string" && isLabelKey(k) && isLabelValue(v)),
  (u, c) => {
    if (typeof u !== "object" || u === null || Array.isArray(u)) return t.failure(u, c, "labels must be an object");
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(u)) {
      const kp = labelKeyProblem(k);
      if (kp !== undefined) return t.failure(u, c, `label key ${JSON.stringify(k)}: ${kp}`);
      if (typeof v !== "string") return t.failure(u, c, `label ${JSON.stringify(k)}: value must be a string`);
      const vp = labelValueProblem(v);
      if (vp !== undefined) return t.failure(u, c, `label ${JSON.stringify(k)}=${JSON.stringify(v)}: value ${vp}`);
      out[k] = v;
    }
    return t.success(sortedLabels(out));
  },
  (a) => ({ ...a }),
);

/** A frozen copy with keys in code-unit order, so printing and hashing are stable. */
export const sortedLabels = (labels: Readonly<Record<string, string>>): Labels => {
  const keys = Object.keys(labels).sort(S.Ord.compare);
  const out: Record<string, string> = Object.create(null);
  for (const k of keys) out[k] = labels[k] as string;
  return Object.freeze(out);
};

export const labelsEqual = (a: Labels, b: Labels): boolean => {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
};

export const hasOwn = (labels: Labels, key: string): boolean => Object.prototype.hasOwnProperty.call(labels, key);
