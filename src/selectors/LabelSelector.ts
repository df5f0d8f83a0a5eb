/**
 * Conversion to and from the Kubernetes `LabelSelector` object
 * (`matchLabels`, `matchExpressions`), where it can express the selector.
 *
 * Law (test/laws/selector-syntax.test.ts): when `toLabelSelector(s)` is
 * `Some(ls)`, `fromLabelSelector(ls)` is `Some(s')` with `s'` equivalent to `s`.
 * `>`/`<`, `@arch`, `@id`, `or` and `@none` have no LabelSelector form.
 */
import * as Ord from "fp-ts/lib/Ord.js";
import * as O from "fp-ts/lib/Option.js";
import * as Str from "fp-ts/lib/string.js";
import * as t from "io-ts";
import { pipe } from "fp-ts/lib/function.js";
import * as E from "fp-ts/lib/Either.js";
import { isLabelKey, isLabelValue } from "../algebra/Labels.ts";
import * as S from "./Selector.ts";
import type { Selector } from "./Selector.ts";

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  readonly values?: ReadonlyArray<string>;
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: ReadonlyArray<LabelSelectorRequirement>;
}

/** `matchLabels` entries by key. */
const OrdLabelEntry: Ord.Ord<readonly [string, string]> = Ord.contramap(([k]: readonly [string, string]) => k)(Str.Ord);

export const LabelSelectorCodec = t.partial({
  matchLabels: t.record(t.string, t.string),
  matchExpressions: t.array(
    t.intersection([
      t.type({ key: t.string, operator: t.keyof({ In: null, NotIn: null, Exists: null, DoesNotExist: null }) }),
      t.partial({ values: t.array(t.string) }),
    ]),
  ),
});

type Clause = { readonly kind: "label"; readonly key: string; readonly value: string } | { readonly kind: "expr"; readonly req: LabelSelectorRequirement };

const expr = (key: string, operator: LabelSelectorRequirement["operator"], values?: ReadonlyArray<string>): O.Option<Clause[]> =>
  O.some([{ kind: "expr", req: values === undefined ? { key, operator } : { key, operator, values: [...values] } }]);

const clauses = (s: Selector): O.Option<Clause[]> =>
  S.match<O.Option<Clause[]>>({
    All: () => O.some([]),
    None: () => O.none,
    LabelEquals: (c) => O.some([{ kind: "label", key: c.key, value: c.value }]),
    LabelNotEquals: (c) => expr(c.key, "NotIn", [c.value]),
    LabelIn: (c) => expr(c.key, "In", c.values),
    LabelNotIn: (c) => expr(c.key, "NotIn", c.values),
    HasLabel: (c) => expr(c.key, "Exists"),
    LacksLabel: (c) => expr(c.key, "DoesNotExist"),
    LabelGt: () => O.none,
    LabelLt: () => O.none,
    Arch: () => O.none,
    DeviceIds: () => O.none,
    And: (c) => {
      const out: Clause[] = [];
      for (const o of c.operands) {
        const r = clauses(o);
        if (O.isNone(r)) return O.none;
        out.push(...r.value);
      }
      return O.some(out);
    },
    Or: () => O.none,
    Not: (c) =>
      S.match<O.Option<Clause[]>>({
        All: () => O.none,
        None: () => O.some([]),
        LabelEquals: (i) => expr(i.key, "NotIn", [i.value]),
        LabelNotEquals: (i) => expr(i.key, "In", [i.value]),
        LabelIn: (i) => expr(i.key, "NotIn", i.values),
        LabelNotIn: (i) => expr(i.key, "In", i.values),
        HasLabel: (i) => expr(i.key, "DoesNotExist"),
        LacksLabel: (i) => expr(i.key, "Exists"),
        LabelGt: () => O.none,
        LabelLt: () => O.none,
        Arch: () => O.none,
        DeviceIds: () => O.none,
        And: () => O.none,
        Or: () => O.none,
        Not: (i) => clauses(i.operand),
      })(c.operand),
  })(s);

/** The equivalent Kubernetes LabelSelector, or `None` when the selector needs more than it can say. */
export const toLabelSelector = (s: Selector): O.Option<LabelSelector> =>
  pipe(
    clauses(s),
    O.map((cs) => {
      const matchLabels: Record<string, string> = {};
      const matchExpressions: LabelSelectorRequirement[] = [];
      for (const c of cs) {
        if (c.kind === "label" && !(c.key in matchLabels)) matchLabels[c.key] = c.value;
        else if (c.kind === "label") matchExpressions.push({ key: c.key, operator: "In", values: [c.value] });
        else matchExpressions.push(c.req);
      }
      return {
        ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
        ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
      };
    }),
  );

/** The selector a (valid) LabelSelector means; `None` for an invalid one. The empty LabelSelector selects all. */
export const fromLabelSelector = (input: unknown): O.Option<Selector> => {
  const decoded = LabelSelectorCodec.decode(input);
  if (E.isLeft(decoded)) return O.none;
  const ls = decoded.right;
  const parts: Selector[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {}).sort(OrdLabelEntry.compare)) {
    if (!isLabelKey(k) || !isLabelValue(v)) return O.none;
    parts.push(S.label(k, v));
  }
  for (const r of ls.matchExpressions ?? []) {
    if (!isLabelKey(r.key)) return O.none;
    const values = r.values ?? [];
    if (!values.every(isLabelValue)) return O.none;
    switch (r.operator) {
      case "In":
      case "NotIn":
        if (values.length === 0) return O.none;
        parts.push(r.operator === "In" ? S.labelIn(r.key, values) : S.labelNotIn(r.key, values));
        break;
      case "Exists":
      case "DoesNotExist":
        if (values.length > 0) return O.none;
        parts.push(r.operator === "Exists" ? S.hasLabel(r.key) : S.lacksLabel(r.key));
        break;
    }
  }
  return O.some(S.and(...parts));
};
