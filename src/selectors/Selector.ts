/**
 * Selectors: which devices something applies to, as data (an AST), so that a
 * selector can be printed, explained, indexed and translated to Kubernetes.
 *
 * Primitive clauses follow Kubernetes label-selector semantics:
 * - `key!=v` and `key notin (…)` also match devices that lack `key`;
 * - `key>n` / `key<n` match only when the label exists and its value is an integer.
 *
 * Laws (test/laws/selector.test.ts), under semantic equivalence (same verdict
 * on every device): `SelectorBooleanAlgebra` is a Boolean algebra
 * (associativity, commutativity, identity, complement, De Morgan, absorption,
 * distributivity, double negation), and filtering a fleet is a homomorphism
 * into fleets under intersection, union and difference.
 */
import * as S from "fp-ts/lib/string.js";
import type { BooleanAlgebra } from "fp-ts/lib/BooleanAlgebra.js";
import type { Monoid } from "fp-ts/lib/Monoid.js";
import type { Device } from "../algebra/Device.ts";
import type { DeviceId } from "../algebra/Name.ts";
import { unsafeDeviceId } from "../algebra/Name.ts";
import { isLabelKey, isLabelValue, labelKeyProblem, labelValueProblem } from "../algebra/Labels.ts";
import * as Fleet from "../algebra/Fleet.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export type Selector =
  | { readonly _tag: "All" }
  | { readonly _tag: "None" }
  | { readonly _tag: "LabelEquals"; readonly key: string; readonly value: string }
  | { readonly _tag: "LabelNotEquals"; readonly key: string; readonly value: string }
  | { readonly _tag: "LabelIn"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly _tag: "LabelNotIn"; readonly key: string; readonly values: ReadonlyArray<string> }
  | { readonly _tag: "HasLabel"; readonly key: string }
  | { readonly _tag: "LacksLabel"; readonly key: string }
  | { readonly _tag: "LabelGt"; readonly key: string; readonly value: number }
  | { readonly _tag: "LabelLt"; readonly key: string; readonly value: number }
  | { readonly _tag: "Arch"; readonly arch: string }
  | { readonly _tag: "DeviceIds"; readonly ids: ReadonlyArray<DeviceId> }
  | { readonly _tag: "And"; readonly operands: ReadonlyArray<Selector> }
  | { readonly _tag: "Or"; readonly operands: ReadonlyArray<Selector> }
  | { readonly _tag: "Not"; readonly operand: Selector };

export type SelectorTag = Selector["_tag"];
type Case<T extends SelectorTag> = Extract<Selector, { _tag: T }>;

/** Exhaustive case analysis. */
export const match =
  <R>(cases: { readonly [T in SelectorTag]: (s: Case<T>) => R }) =>
  (s: Selector): R =>
    (cases[s._tag] as (s: Selector) => R)(s);

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

export class InvalidSelectorError extends Error {
  override readonly name = "InvalidSelectorError";
}

const checkKey = (key: string): string => {
  const p = labelKeyProblem(key);
  if (p !== undefined) throw new InvalidSelectorError(`invalid label key ${JSON.stringify(key)}: ${p}`);
  return key;
};
const checkValue = (key: string, value: string): string => {
  const p = labelValueProblem(value);
  if (p !== undefined) throw new InvalidSelectorError(`invalid value ${JSON.stringify(value)} for label ${JSON.stringify(key)}: ${p}`);
  return value;
};
const checkInt = (key: string, n: number): number => {
  if (!Number.isSafeInteger(n)) throw new InvalidSelectorError(`label ${JSON.stringify(key)}: ${n} is not an integer`);
  return n;
};
const uniqueSorted = <A extends string>(xs: Iterable<A>): ReadonlyArray<A> => Object.freeze([...new Set(xs)].sort(S.Ord.compare));

export const all: Selector = Object.freeze({ _tag: "All" });
export const none: Selector = Object.freeze({ _tag: "None" });

/** `key=value` */
export const label = (key: string, value: string): Selector =>
  Object.freeze({ _tag: "LabelEquals", key: checkKey(key), value: checkValue(key, value) });
/** `key!=value` (also matches devices without `key`) */
export const labelNotEquals = (key: string, value: string): Selector =>
  Object.freeze({ _tag: "LabelNotEquals", key: checkKey(key), value: checkValue(key, value) });
/** `key in (v1, v2)` */
export const labelIn = (key: string, values: ReadonlyArray<string>): Selector => {
  if (values.length === 0) throw new InvalidSelectorError(`label ${JSON.stringify(key)}: 'in' needs at least one value`);
  return Object.freeze({ _tag: "LabelIn", key: checkKey(key), values: uniqueSorted(values.map((v) => checkValue(key, v))) });
};
/** `key notin (v1, v2)` (also matches devices without `key`) */
export const labelNotIn = (key: string, values: ReadonlyArray<string>): Selector => {
  if (values.length === 0) throw new InvalidSelectorError(`label ${JSON.stringify(key)}: 'notin' needs at least one value`);
  return Object.freeze({ _tag: "LabelNotIn", key: checkKey(key), values: uniqueSorted(values.map((v) => checkValue(key, v))) });
};
/** `key` */
export const hasLabel = (key: string): Selector => Object.freeze({ _tag: "HasLabel", key: checkKey(key) });
/** `!key` */
export const lacksLabel = (key: string): Selector => Object.freeze({ _tag: "LacksLabel", key: checkKey(key) });
/** `key>n`: the label exists and is an integer greater than n. */
export const labelGt = (key: string, n: number): Selector => Object.freeze({ _tag: "LabelGt", key: checkKey(key), value: checkInt(key, n) });
/** `key<n`: the label exists and is an integer less than n. */
export const labelLt = (key: string, n: number): Selector => Object.freeze({ _tag: "LabelLt", key: checkKey(key), value: checkInt(key, n) });

const ARCH = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
/** The device's CPU architecture, e.g. `arch("aarch64")`. */
export const arch = (name: string): Selector => {
  if (!ARCH.test(name)) throw new InvalidSelectorError(`invalid arch ${JSON.stringify(name)} (expected e.g. "aarch64", "x86_64")`);
  return Object.freeze({ _tag: "Arch", arch: name });
};
/** Exactly these devices. */
export const deviceIds = (ids: Iterable<string>): Selector =>
  Object.freeze({ _tag: "DeviceIds", ids: uniqueSorted([...ids].map(unsafeDeviceId)) });

/** Conjunction; nested conjunctions are flattened and `all` (its identity) dropped, `and()` is `all`. */
export const and = (...operands: ReadonlyArray<Selector>): Selector => {
  const flat = operands.flatMap((s) => (s._tag === "And" ? s.operands : s._tag === "All" ? [] : [s]));
  if (flat.length === 1) return flat[0] as Selector;
  return flat.length === 0 ? all : Object.freeze({ _tag: "And", operands: Object.freeze(flat) });
};
/** Disjunction; nested disjunctions are flattened and `none` (its identity) dropped, `or()` is `none`. */
export const or = (...operands: ReadonlyArray<Selector>): Selector => {
  const flat = operands.flatMap((s) => (s._tag === "Or" ? s.operands : s._tag === "None" ? [] : [s]));
  if (flat.length === 1) return flat[0] as Selector;
  return flat.length === 0 ? none : Object.freeze({ _tag: "Or", operands: Object.freeze(flat) });
};
export const not = (operand: Selector): Selector => Object.freeze({ _tag: "Not", operand });

/** Checks a selector that did not come from these constructors (decoded data). */
export const validate = (s: Selector): string | undefined =>
  match<string | undefined>({
    All: () => undefined,
    None: () => undefined,
    LabelEquals: (c) => (isLabelKey(c.key) ? (isLabelValue(c.value) ? undefined : `bad value ${c.value}`) : `bad key ${c.key}`),
    LabelNotEquals: (c) => (isLabelKey(c.key) ? (isLabelValue(c.value) ? undefined : `bad value ${c.value}`) : `bad key ${c.key}`),
    LabelIn: (c) => (isLabelKey(c.key) && c.values.length > 0 && c.values.every(isLabelValue) ? undefined : `bad 'in' clause on ${c.key}`),
    LabelNotIn: (c) => (isLabelKey(c.key) && c.values.length > 0 && c.values.every(isLabelValue) ? undefined : `bad 'notin' clause on ${c.key}`),
    HasLabel: (c) => (isLabelKey(c.key) ? undefined : `bad key ${c.key}`),
    LacksLabel: (c) => (isLabelKey(c.key) ? undefined : `bad key ${c.key}`),
    LabelGt: (c) => (isLabelKey(c.key) && Number.isSafeInteger(c.value) ? undefined : `bad '>' clause on ${c.key}`),
    LabelLt: (c) => (isLabelKey(c.key) && Number.isSafeInteger(c.value) ? undefined : `bad '<' clause on ${c.key}`),
    Arch: (c) => (ARCH.test(c.arch) ? undefined : `bad arch ${c.arch}`),
    DeviceIds: () => undefined,
    And: (c) => c.operands.map(validate).find((e) => e !== undefined),
    Or: (c) => c.operands.map(validate).find((e) => e !== undefined),
    Not: (c) => validate(c.operand),
  })(s);

// -------------------------------------------------------------------------------------
// evaluation
// -------------------------------------------------------------------------------------

/** Kubernetes parses Gt/Lt label values as base-10 int64; anything else never matches. */
export const labelInteger = (v: string | undefined): number | undefined =>
  v !== undefined && /^[-+]?\d+$/.test(v) ? Number(v) : undefined;

/**
 * Compiles a selector into a predicate. The AST stays the source of truth;
 * compiling once lets the diff evaluate millions of devices without walking
 * the tree by tag each time.
 */
export const compile: (s: Selector) => (d: Device) => boolean = match<(d: Device) => boolean>({
  All: () => () => true,
  None: () => () => false,
  LabelEquals: ({ key, value }) => (d) => d.labels[key] === value,
  LabelNotEquals: ({ key, value }) => (d) => d.labels[key] !== value,
  LabelIn: ({ key, values }) => {
    const set = new Set(values);
    return (d) => {
      const v = d.labels[key];
      return v !== undefined && set.has(v);
    };
  },
  LabelNotIn: ({ key, values }) => {
    const set = new Set(values);
    return (d) => {
      const v = d.labels[key];
      return v === undefined || !set.has(v);
    };
  },
  HasLabel: ({ key }) => (d) => d.labels[key] !== undefined,
  LacksLabel: ({ key }) => (d) => d.labels[key] === undefined,
  LabelGt: ({ key, value }) => (d) => {
    const n = labelInteger(d.labels[key]);
    return n !== undefined && n > value;
  },
  LabelLt: ({ key, value }) => (d) => {
    const n = labelInteger(d.labels[key]);
    return n !== undefined && n < value;
  },
  Arch: ({ arch }) => (d) => d.arch === arch,
  DeviceIds: ({ ids }) => {
    const set = new Set<string>(ids);
    return (d) => set.has(d.id);
  },
  And: ({ operands }) => {
    const ps = operands.map((o) => compile(o));
    return (d) => {
      for (const p of ps) if (!p(d)) return false;
      return true;
    };
  },
  Or: ({ operands }) => {
    const ps = operands.map((o) => compile(o));
    return (d) => {
      for (const p of ps) if (p(d)) return true;
      return false;
    };
  },
  Not: ({ operand }) => {
    const p = compile(operand);
    return (d) => !p(d);
  },
});

/** `matches(selector)(device)` */
export const matches = (selector: Selector): ((device: Device) => boolean) => compile(selector);

// -------------------------------------------------------------------------------------
// fleets
// -------------------------------------------------------------------------------------

/** The devices of a fleet that a selector matches. */
export const select =
  (selector: Selector) =>
  (fleet: Fleet.Fleet): Fleet.Fleet =>
    Fleet.filter(compile(selector))(fleet);

/** `[not matched, matched]` */
export const partitionBy =
  (selector: Selector) =>
  (fleet: Fleet.Fleet): readonly [Fleet.Fleet, Fleet.Fleet] =>
    Fleet.partition(compile(selector))(fleet);

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

/** and / or / not / all / none. Equalities hold semantically, not structurally. */
export const SelectorBooleanAlgebra: BooleanAlgebra<Selector> = {
  meet: (x, y) => and(x, y),
  join: (x, y) => or(x, y),
  zero: none,
  one: all,
  implies: (x, y) => or(not(x), y),
  not: (x) => not(x),
};

export const MonoidAll: Monoid<Selector> = { concat: (x, y) => and(x, y), empty: all };
export const MonoidAny: Monoid<Selector> = { concat: (x, y) => or(x, y), empty: none };

/** The label keys a selector reads (for explaining monotonicity and for indexes). */
export const labelKeys: (s: Selector) => ReadonlyArray<string> = match<ReadonlyArray<string>>({
  All: () => [],
  None: () => [],
  LabelEquals: (c) => [c.key],
  LabelNotEquals: (c) => [c.key],
  LabelIn: (c) => [c.key],
  LabelNotIn: (c) => [c.key],
  HasLabel: (c) => [c.key],
  LacksLabel: (c) => [c.key],
  LabelGt: (c) => [c.key],
  LabelLt: (c) => [c.key],
  Arch: () => [],
  DeviceIds: () => [],
  And: (c) => [...new Set(c.operands.flatMap((o) => labelKeys(o)))].sort(S.Ord.compare),
  Or: (c) => [...new Set(c.operands.flatMap((o) => labelKeys(o)))].sort(S.Ord.compare),
  Not: (c) => labelKeys(c.operand),
});
