/**
 * Rendering io-ts decode failures for humans: one `path: message` per problem.
 *
 * io-ts records intersection and union members in the context with numeric
 * keys that are not part of the data's path; they are dropped here so that a
 * message points at `services.0.image`, not at `0.1.services.0.0.image`.
 */
import * as t from "io-ts";

export interface DecodeProblem {
  readonly path: string;
  readonly message: string;
}

const describe = (u: unknown): string => {
  if (u === undefined) return "nothing";
  // JSON would show NaN and Infinity as null, and cannot show a BigInt at all.
  if (typeof u === "number" && !Number.isFinite(u)) return String(u);
  if (typeof u === "bigint") return `${String(u)}n`;
  try {
    const s = JSON.stringify(u);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(u);
  }
};

export const decodeProblems = (errors: t.Errors): ReadonlyArray<DecodeProblem> => {
  const out: DecodeProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const keys: string[] = [];
    e.context.forEach((c, i) => {
      if (i === 0) return;
      const up = e.context[i - 1];
      const parent = up?.type;
      if (parent instanceof t.IntersectionType || parent instanceof t.UnionType) return;
      // A custom codec that delegates to an intersection (DeviceCodec, DeploymentCodec) does not enter
      // itself in the context: its members' entries hold the very value of their parent, not a part of it.
      if (typeof c.actual === "object" && c.actual !== null && c.actual === up?.actual) return;
      keys.push(c.key);
    });
    const last = e.context[e.context.length - 1];
    const message = e.message ?? `expected ${last?.type.name ?? "a value"}, got ${describe(e.value)}`;
    const p = { path: keys.join("."), message };
    const id = `${p.path}\u0000${p.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(p);
    }
  }
  return out;
};

export const formatProblem = (p: DecodeProblem): string => (p.path === "" ? p.message : `${p.path}: ${p.message}`);

export const formatValidationErrors = (errors: t.Errors): string => decodeProblems(errors).map(formatProblem).join("; ");
