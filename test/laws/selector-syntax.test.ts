/**
 * Selector syntax: printing then parsing gives an equivalent selector; the
 * LabelSelector translation round-trips where it exists; the parser accepts
 * kubectl's grammar and rejects bad input with a positioned error, never a throw.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { matches, label, labelIn, labelNotIn, hasLabel, lacksLabel, labelGt, labelLt, labelNotEquals, and, or, not, arch, deviceIds, all, type Selector } from "../../src/selectors/Selector.ts";
import { parseSelector, formatSelectorError, MAX_SELECTOR_NESTING } from "../../src/selectors/Parse.ts";
import { printSelector } from "../../src/selectors/Print.ts";
import { toLabelSelector, fromLabelSelector } from "../../src/selectors/LabelSelector.ts";
import { deviceArb, selectorArb, labelOnlySelectorArb } from "./arbitraries.ts";
import type { Device } from "../../src/algebra/Device.ts";

const equivalentOn = (x: Selector, y: Selector, d: Device): boolean => matches(x)(d) === matches(y)(d);

describe("printSelector / parseSelector", () => {
  it("parse(print(s)) is equivalent to s", () =>
    fc.assert(
      fc.property(selectorArb, deviceArb, (s, d) => {
        const parsed = parseSelector(printSelector(s));
        return E.isRight(parsed) && equivalentOn(parsed.right, s, d);
      }),
    ));

  it("print is stable: print(parse(print(s))) = print(s) for label-only selectors", () =>
    fc.assert(
      fc.property(labelOnlySelectorArb, (s) => {
        const parsed = parseSelector(printSelector(s));
        return E.isRight(parsed) && printSelector(parsed.right) === printSelector(s);
      }),
    ));

  it("parses kubectl's grammar", () => {
    const cases: ReadonlyArray<readonly [string, Selector]> = [
      ["", all],
      ["env=prod", label("env", "prod")],
      ["env==prod", label("env", "prod")],
      ["env != prod", labelNotEquals("env", "prod")],
      ["env in (prod, staging)", labelIn("env", ["prod", "staging"])],
      ["env notin (dev)", labelNotIn("env", ["dev"])],
      ["gpu", hasLabel("gpu")],
      ["!gpu", lacksLabel("gpu")],
      ["gen>3", labelGt("gen", 3)],
      ["gen<3", labelLt("gen", 3)],
      ["example.com/tier=edge,zone", and(label("example.com/tier", "edge"), hasLabel("zone"))],
      ["env=", label("env", "")],
    ];
    for (const [text, expected] of cases) expect(parseSelector(text), text).toEqual(E.right(expected));
  });

  // Kubernetes' own cases (apimachinery labels TestSetSelectorParser): an empty element, or an
  // empty list, inside a value list is the empty value.
  it("reads empty value lists and empty list elements as Kubernetes does", () => {
    const cases: ReadonlyArray<readonly [string, Selector]> = [
      ["x in (abc,)", labelIn("x", ["abc", ""])],
      ["x in ()", labelIn("x", [""])],
      ["x notin ( )", labelNotIn("x", [""])],
      ["x notin (, a)", labelNotIn("x", ["", "a"])],
      ["x in (a,,b)", labelIn("x", ["a", "", "b"])],
      ["x in (,)", labelIn("x", [""])],
      ["x notin (abc,def),bar,z in (),w", and(labelNotIn("x", ["abc", "def"]), hasLabel("bar"), labelIn("z", [""]), hasLabel("w"))],
      ["a in (x,y,notin, z,in)", labelIn("a", ["in", "notin", "x", "y", "z"])],
      ["foo  in\t (abc)", labelIn("foo", ["abc"])],
      ["\rx", hasLabel("x")],
    ];
    for (const [text, expected] of cases) expect(parseSelector(text), text).toEqual(E.right(expected));
    // ... and what it rejects.
    for (const text of ["a in (xyz abc)", "a notin(", "a (", "(", "x=a||y=b", "a in (xyz),", "a in (xyz)b notin ()", "x nott in (y)"])
      expect(E.isLeft(parseSelector(text)), text).toBe(true);
    // The meaning: `in ()` holds for a device whose label is empty, `notin ()` for every other one.
    const emptyLabel = { labels: { x: "" } } as unknown as Device;
    const otherLabel = { labels: { x: "a" } } as unknown as Device;
    const inEmpty = parseSelector("x in ()");
    const notinEmpty = parseSelector("x notin ()");
    if (E.isLeft(inEmpty) || E.isLeft(notinEmpty)) throw new Error("does not parse");
    expect([matches(inEmpty.right)(emptyLabel), matches(inEmpty.right)(otherLabel)]).toEqual([true, false]);
    expect([matches(notinEmpty.right)(emptyLabel), matches(notinEmpty.right)(otherLabel)]).toEqual([false, true]);
  });

  it("an empty element is checked like any value in the extensions", () => {
    const r = parseSelector("@arch in (aarch64,)");
    expect(E.isLeft(r) && r.left.message).toMatch(/invalid arch ''/);
    expect(E.isLeft(r) && r.left.position).toBe(18);
  });

  it(`groups nest up to ${MAX_SELECTOR_NESTING} deep; deeper text is a Left at the group that goes over, never a throw`, () => {
    const nested = (n: number, open: string): string => `${open.repeat(n)}a=1${")".repeat(n)}`;
    expect(E.isRight(parseSelector(nested(MAX_SELECTOR_NESTING, "not (")))).toBe(true);
    for (const open of ["(", "not (", "!(", "(b or "]) {
      const over = parseSelector(nested(MAX_SELECTOR_NESTING + 1, open));
      expect(E.isLeft(over) && over.left.message, open).toMatch(/nested more than 100 deep/);
      expect(E.isLeft(over) && over.left.position, open).toBe(MAX_SELECTOR_NESTING * open.length + open.indexOf("("));
      const deep = parseSelector(nested(10_000, open));
      expect(E.isLeft(deep), open).toBe(true);
    }
  });

  it("parses the extensions", () => {
    expect(parseSelector("env=prod or @arch=aarch64")).toEqual(E.right(or(label("env", "prod"), arch("aarch64"))));
    expect(parseSelector("not (env=prod, gpu)")).toEqual(E.right(not(and(label("env", "prod"), hasLabel("gpu")))));
    expect(parseSelector("!(gpu)")).toEqual(E.right(not(hasLabel("gpu"))));
    expect(parseSelector("@id in (pi-01, pi-02)")).toEqual(E.right(deviceIds(["pi-01", "pi-02"])));
    expect(parseSelector("(a=1 or b=2), c")).toEqual(E.right(and(or(label("a", "1"), label("b", "2")), hasLabel("c"))));
  });

  it("rejects bad input with a positioned error", () => {
    const bad: ReadonlyArray<readonly [string, number, RegExp]> = [
      ["env in (prod", 12, /expected a value, ',' or '\)'/],
      ["env in (a b)", 10, /expected a value, ',' or '\)'/],
      ["-bad=1", 0, /invalid label key/],
      ["env=prod!", 8, /expected ',' or 'or'/],
      ["gen>x", 4, /expected an integer/],
      ["@arch=Aarch64", 6, /invalid arch/],
      ["@colour=red", 0, /unknown '@colour'/],
      ["a=1,", 4, /expected a requirement/],
    ];
    for (const [text, pos, message] of bad) {
      const r = parseSelector(text);
      expect(E.isLeft(r), text).toBe(true);
      if (E.isLeft(r)) {
        expect(r.left.position, text).toBe(pos);
        expect(r.left.message, text).toMatch(message);
        expect(formatSelectorError(r.left)).toContain("^");
      }
    }
  });

  it("never throws on arbitrary input (fuzz)", () =>
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.stringMatching(/^[a-z=!<>(), .@/0-9-]{0,30}$/),
          // Deep nesting, balanced or not.
          fc.tuple(fc.constantFrom("(", "not (", "!(", "a or (", "a, ("), fc.integer({ min: 0, max: 5000 }), fc.boolean()).map(
            ([open, n, closed]) => `${open.repeat(n)}a=1${closed ? ")".repeat(n) : ""}`,
          ),
        ),
        (text) => {
        const r = parseSelector(text);
        return E.isRight(r) || (r.left.position >= 0 && r.left.position <= text.length);
      }),
    ));
});

describe("toLabelSelector / fromLabelSelector", () => {
  it("round-trips where expressible", () =>
    fc.assert(
      fc.property(selectorArb, deviceArb, (s, d) => {
        const ls = toLabelSelector(s);
        if (O.isNone(ls)) return true;
        const back = fromLabelSelector(ls.value);
        return O.isSome(back) && equivalentOn(back.value, s, d);
      }),
    ));
  it("label-only conjunctions are always expressible", () =>
    fc.assert(fc.property(labelOnlySelectorArb, (s) => O.isSome(toLabelSelector(s)))));
  it("has no form for or, arch, ids, > and <", () => {
    for (const s of [or(label("a", "1"), label("b", "2")), arch("x86_64"), deviceIds(["d1"]), labelGt("g", 1)]) expect(toLabelSelector(s)).toEqual(O.none);
  });
  it("rejects invalid LabelSelectors (fuzz)", () =>
    fc.assert(
      fc.property(fc.anything(), (u) => {
        const r = fromLabelSelector(u);
        return O.isNone(r) || typeof r.value._tag === "string";
      }),
    ));
  it("rejects In without values and Exists with values", () => {
    expect(fromLabelSelector({ matchExpressions: [{ key: "a", operator: "In", values: [] }] })).toEqual(O.none);
    expect(fromLabelSelector({ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] })).toEqual(O.none);
    expect(fromLabelSelector({ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] })).toEqual(O.none);
  });
});
