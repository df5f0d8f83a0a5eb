/**
 * Printing selectors in the selector language of `Parse.ts`: the Kubernetes
 * label-selector grammar plus `or`, `not ( … )`, `@arch`, `@id`, `@all`, `@none`.
 *
 * Law (test/laws/selector-syntax.test.ts): `parseSelector(printSelector(s))`
 * is semantically equivalent to `s`. A selector made only of conjoined label
 * clauses prints in plain `kubectl get -l` syntax.
 */
import { match, type Selector } from "./Selector.ts";

const list = (values: ReadonlyArray<string>): string => `(${values.join(", ")})`;

// Precedence levels: an `or` is the loosest, `,` (and) binds tighter, clauses tightest.
type Level = "or" | "and" | "atom";

const print = (level: Level): ((s: Selector) => string) =>
  match<string>({
    All: () => "@all",
    None: () => "@none",
    // An empty value is wrapped so that a following `or` is not read as the value.
    LabelEquals: ({ key, value }) => (value === "" ? `(${key}=)` : `${key}=${value}`),
    LabelNotEquals: ({ key, value }) => (value === "" ? `(${key}!=)` : `${key}!=${value}`),
    LabelIn: ({ key, values }) => (values.length === 1 && values[0] === "" ? `(${key}=)` : `${key} in ${list(values)}`),
    LabelNotIn: ({ key, values }) =>
      values.length === 1 && values[0] === "" ? `(${key}!=)` : `${key} notin ${list(values)}`,
    HasLabel: ({ key }) => key,
    LacksLabel: ({ key }) => `!${key}`,
    LabelGt: ({ key, value }) => `${key}>${value}`,
    LabelLt: ({ key, value }) => `${key}<${value}`,
    Arch: ({ arch }) => `@arch=${arch}`,
    DeviceIds: ({ ids }) => (ids.length === 0 ? "@none" : `@id in ${list(ids)}`),
    And: ({ operands }): string => {
      const s: string = operands.map((o) => print("atom")(o)).join(", ");
      return level === "atom" ? `(${s})` : s;
    },
    Or: ({ operands }): string => {
      const s: string = operands.map((o) => print("and")(o)).join(" or ");
      return level === "or" ? s : `(${s})`;
    },
    Not: ({ operand }): string => `not (${print("or")(operand)})`,
  });

/** The selector in the project's selector language (kubectl syntax where it suffices). */
export const printSelector = (s: Selector): string => print("or")(s);
