/**
 * Algebraic laws written once as properties over an instance, an arbitrary
 * and an equivalence, and run by the test files with one test per law so that
 * one failure never hides another (after fp-ts-laws).
 *
 * `Equiv<A, C>` lets the equality depend on a context drawn at random: for
 * selectors, semantic equivalence means "same verdict on a random device".
 */
import fc from "fast-check";
import { it } from "vitest";
import type { BooleanAlgebra } from "fp-ts/lib/BooleanAlgebra.js";
import type { Monoid } from "fp-ts/lib/Monoid.js";

export interface Equiv<A, C> {
  readonly context: fc.Arbitrary<C>;
  readonly equals: (x: A, y: A, context: C) => boolean;
}

const law =
  <A, C>(arb: fc.Arbitrary<A>, eq: Equiv<A, C>) =>
  (name: string, arity: 1 | 2 | 3, prop: (xs: { a: A; b: A; c: A }, eq: (x: A, y: A) => boolean) => boolean): void => {
    it(name, () => {
      fc.assert(
        fc.property(arb, arity > 1 ? arb : fc.constant(undefined), arity > 2 ? arb : fc.constant(undefined), eq.context, (a, b, c, ctx) =>
          prop({ a, b: (b ?? a) as A, c: (c ?? a) as A }, (x, y) => eq.equals(x, y, ctx)),
        ),
      );
    });
  };

export const booleanAlgebraLaws = <A, C>(BA: BooleanAlgebra<A>, arb: fc.Arbitrary<A>, eq: Equiv<A, C>): void => {
  const L = law(arb, eq);
  const { meet, join, not, zero, one } = BA;
  L("meet is associative", 3, ({ a, b, c }, e) => e(meet(meet(a, b), c), meet(a, meet(b, c))));
  L("join is associative", 3, ({ a, b, c }, e) => e(join(join(a, b), c), join(a, join(b, c))));
  L("meet is commutative", 2, ({ a, b }, e) => e(meet(a, b), meet(b, a)));
  L("join is commutative", 2, ({ a, b }, e) => e(join(a, b), join(b, a)));
  L("one is the identity of meet", 1, ({ a }, e) => e(meet(a, one), a));
  L("zero is the identity of join", 1, ({ a }, e) => e(join(a, zero), a));
  L("complement: a meet not a is zero", 1, ({ a }, e) => e(meet(a, not(a)), zero));
  L("complement: a join not a is one", 1, ({ a }, e) => e(join(a, not(a)), one));
  L("De Morgan: not (a meet b) = not a join not b", 2, ({ a, b }, e) => e(not(meet(a, b)), join(not(a), not(b))));
  L("De Morgan: not (a join b) = not a meet not b", 2, ({ a, b }, e) => e(not(join(a, b)), meet(not(a), not(b))));
  L("absorption: a meet (a join b) = a", 2, ({ a, b }, e) => e(meet(a, join(a, b)), a));
  L("absorption: a join (a meet b) = a", 2, ({ a, b }, e) => e(join(a, meet(a, b)), a));
  L("distributivity: a meet (b join c) = (a meet b) join (a meet c)", 3, ({ a, b, c }, e) =>
    e(meet(a, join(b, c)), join(meet(a, b), meet(a, c))),
  );
  L("distributivity: a join (b meet c) = (a join b) meet (a join c)", 3, ({ a, b, c }, e) =>
    e(join(a, meet(b, c)), meet(join(a, b), join(a, c))),
  );
  L("double negation", 1, ({ a }, e) => e(not(not(a)), a));
  L("implies: a => b = not a join b", 2, ({ a, b }, e) => e(BA.implies(a, b), join(not(a), b)));
};

export const monoidLaws = <A, C>(M: Monoid<A>, arb: fc.Arbitrary<A>, eq: Equiv<A, C>): void => {
  const L = law(arb, eq);
  L("concat is associative", 3, ({ a, b, c }, e) => e(M.concat(M.concat(a, b), c), M.concat(a, M.concat(b, c))));
  L("empty is a left identity", 1, ({ a }, e) => e(M.concat(M.empty, a), a));
  L("empty is a right identity", 1, ({ a }, e) => e(M.concat(a, M.empty), a));
};

export const commutativeLaw = <A, C>(M: Monoid<A>, arb: fc.Arbitrary<A>, eq: Equiv<A, C>): void =>
  law(arb, eq)("concat is commutative", 2, ({ a, b }, e) => e(M.concat(a, b), M.concat(b, a)));

export const idempotentLaw = <A, C>(M: Monoid<A>, arb: fc.Arbitrary<A>, eq: Equiv<A, C>): void =>
  law(arb, eq)("concat is idempotent", 1, ({ a }, e) => e(M.concat(a, a), a));

export const plainEq = <A>(equals: (x: A, y: A) => boolean): Equiv<A, undefined> => ({
  context: fc.constant(undefined),
  equals: (x, y) => equals(x, y),
});
