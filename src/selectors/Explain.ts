/**
 * Explaining a selector's verdict on one device, clause by clause, for humans
 * (`fleet explain`). The verdict at the root always equals `matches`.
 */
import type { Device } from "../algebra/Device.ts";
import { compile, labelInteger, match, type Selector } from "./Selector.ts";
import { printSelector } from "./Print.ts";

export interface Explanation {
  readonly selector: string;
  readonly verdict: boolean;
  /** What the device has that decided this clause, e.g. `env is "prod"`. */
  readonly because: string;
  readonly children: ReadonlyArray<Explanation>;
}

const shown = (d: Device, key: string): string => {
  const v = d.labels[key];
  return v === undefined ? `${key} is absent` : `${key} is ${JSON.stringify(v)}`;
};

const leaf = (s: Selector, d: Device, because: string): Explanation => ({
  selector: printSelector(s),
  verdict: compile(s)(d),
  because,
  children: [],
});

export const explain = (s: Selector, d: Device): Explanation =>
  match<Explanation>({
    All: (c) => leaf(c, d, "matches every device"),
    None: (c) => leaf(c, d, "matches no device"),
    LabelEquals: (c) => leaf(c, d, shown(d, c.key)),
    LabelNotEquals: (c) => leaf(c, d, shown(d, c.key)),
    LabelIn: (c) => leaf(c, d, shown(d, c.key)),
    LabelNotIn: (c) => leaf(c, d, shown(d, c.key)),
    HasLabel: (c) => leaf(c, d, shown(d, c.key)),
    LacksLabel: (c) => leaf(c, d, shown(d, c.key)),
    LabelGt: (c) => leaf(c, d, labelInteger(d.labels[c.key]) === undefined && d.labels[c.key] !== undefined ? `${shown(d, c.key)}, not an integer` : shown(d, c.key)),
    LabelLt: (c) => leaf(c, d, labelInteger(d.labels[c.key]) === undefined && d.labels[c.key] !== undefined ? `${shown(d, c.key)}, not an integer` : shown(d, c.key)),
    Arch: (c) => leaf(c, d, `arch is ${JSON.stringify(d.arch)}`),
    DeviceIds: (c) => leaf(c, d, `id is ${JSON.stringify(d.id)}`),
    And: (c) => {
      const children = c.operands.map((o) => explain(o, d));
      const failed = children.filter((x) => !x.verdict).length;
      return {
        selector: printSelector(c),
        verdict: failed === 0,
        because: failed === 0 ? "every clause holds" : `${failed} of ${children.length} clauses fail`,
        children,
      };
    },
    Or: (c) => {
      const children = c.operands.map((o) => explain(o, d));
      const held = children.filter((x) => x.verdict).length;
      return {
        selector: printSelector(c),
        verdict: held > 0,
        because: held > 0 ? `${held} of ${children.length} alternatives hold` : "no alternative holds",
        children,
      };
    },
    Not: (c) => {
      const inner = explain(c.operand, d);
      return { selector: printSelector(c), verdict: !inner.verdict, because: inner.verdict ? "the inner selector holds" : "the inner selector fails", children: [inner] };
    },
  })(s);

/** The explanation as an indented tree of `✓`/`✗` lines. */
export const renderExplanation = (e: Explanation, indent = ""): string =>
  [`${indent}${e.verdict ? "✓" : "✗"} ${e.selector}  (${e.because})`, ...e.children.map((c) => renderExplanation(c, `${indent}  `))].join("\n");
