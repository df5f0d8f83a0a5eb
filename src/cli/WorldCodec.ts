/**
 * Decoding a World that a fleet file exported.
 *
 * A fleet module is loaded through tsx in its own module namespace, so it
 * builds its World with *another copy* of this library: `instanceof` and
 * identity mean nothing, and the value may not be a World at all. The value
 * is therefore checked structurally, every field, and rebuilt with this
 * copy's constructors (which validate names, labels and selectors again and
 * recompute ids and hashes), so everything downstream gets an exact World.
 *
 * Before any codec walks it, the value must be plain data (`PlainData.ts`:
 * no cycle, BigInt or function, bounded nesting), so that no decoder, printer
 * or hash below can run out of stack or throw on it.
 *
 * Errors name the path inside the value, e.g.
 * `assignments.2.deployments.0.score.services.0.image: expected NonEmptyString, got ""`.
 */
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { DeviceCodec } from "../algebra/Device.ts";
import { DeploymentCodec, type Deployment } from "../algebra/Deployment.ts";
import { waveSelectorProblems } from "../world/Rollout.ts";
import { decodeProblems, type DecodeProblem } from "../algebra/DecodeError.ts";
import {
  all,
  and,
  arch,
  deviceIds,
  hasLabel,
  label,
  labelGt,
  labelIn,
  labelLt,
  labelNotEquals,
  labelNotIn,
  lacksLabel,
  none,
  not,
  or,
  type Selector,
  type SelectorTag,
} from "../selectors/Selector.ts";
import { assign, type Assignment } from "../world/Assignment.ts";
import { world, type World } from "../world/World.ts";
import { plainDataProblem } from "./PlainData.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";

const describe = (u: unknown): string => {
  if (u === null) return "null";
  if (u === undefined) return "nothing (the field is missing)";
  if (Array.isArray(u)) return "an array";
  if (typeof u === "function") return "a function";
  if (typeof u === "object") return "an object";
  return typeof u === "string" ? JSON.stringify(u.length > 40 ? `${u.slice(0, 37)}...` : u) : `${typeof u} ${String(u)}`;
};

/** Runs a constructor that throws on bad input, turning its error into a decode failure. */
const build = <A>(u: unknown, c: t.Context, f: () => A): t.Validation<A> => {
  try {
    return t.success(f());
  } catch (e) {
    return t.failure(u, c, errorMessage(e));
  }
};

const Key = t.type({ key: t.string });
const KeyValue = t.type({ key: t.string, value: t.string });
const KeyValues = t.type({ key: t.string, values: t.array(t.string) });
const KeyNumber = t.type({ key: t.string, value: t.number });

const TAGS: ReadonlyArray<SelectorTag> = [
  "All", "None", "LabelEquals", "LabelNotEquals", "LabelIn", "LabelNotIn", "HasLabel", "LacksLabel",
  "LabelGt", "LabelLt", "Arch", "DeviceIds", "And", "Or", "Not",
];

/** A selector AST, rebuilt with this copy's (validating) constructors. */
export const SelectorCodec: t.Type<Selector, unknown, unknown> = t.recursion("Selector", () =>
  new t.Type<Selector, unknown, unknown>(
    "Selector",
    (u): u is Selector => typeof u === "object" && u !== null && (TAGS as ReadonlyArray<unknown>).includes((u as { _tag?: unknown })._tag),
    (u, c) => {
      const tag = typeof u === "object" && u !== null ? (u as { _tag?: unknown })._tag : undefined;
      if (typeof tag !== "string" || !(TAGS as ReadonlyArray<string>).includes(tag))
        return t.failure(u, c, `expected a selector (label(...), and(...), a selector string, ...), got ${describe(u)}`);
      const then = <I, A>(codec: t.Decoder<unknown, I>, f: (i: I) => A): t.Validation<A> => E.chain((i: I) => build(u, c, () => f(i)))(codec.validate(u, c));
      switch (tag as SelectorTag) {
        case "All":
          return t.success(all);
        case "None":
          return t.success(none);
        case "LabelEquals":
          return then(KeyValue, (x) => label(x.key, x.value));
        case "LabelNotEquals":
          return then(KeyValue, (x) => labelNotEquals(x.key, x.value));
        case "LabelIn":
          return then(KeyValues, (x) => labelIn(x.key, x.values));
        case "LabelNotIn":
          return then(KeyValues, (x) => labelNotIn(x.key, x.values));
        case "HasLabel":
          return then(Key, (x) => hasLabel(x.key));
        case "LacksLabel":
          return then(Key, (x) => lacksLabel(x.key));
        case "LabelGt":
          return then(KeyNumber, (x) => labelGt(x.key, x.value));
        case "LabelLt":
          return then(KeyNumber, (x) => labelLt(x.key, x.value));
        case "Arch":
          return then(t.type({ arch: t.string }), (x) => arch(x.arch));
        case "DeviceIds":
          return then(t.type({ ids: t.array(t.string) }), (x) => deviceIds(x.ids));
        case "And":
          return then(t.type({ operands: t.array(SelectorCodec) }), (x) => and(...x.operands));
        case "Or":
          return then(t.type({ operands: t.array(SelectorCodec) }), (x) => or(...x.operands));
        case "Not":
          return then(t.type({ operand: SelectorCodec }), (x) => not(x.operand));
      }
    },
    (s) => s,
  ),
);

/**
 * A deployment, with its rollout's wave selectors parsed: `RolloutCodec` lives
 * below the selector layer and keeps them as text, so a World from another
 * copy of the library (or JSON) is checked here, naming the wave.
 */
export const CheckedDeploymentCodec = new t.Type<Deployment, unknown, unknown>(
  "Deployment",
  DeploymentCodec.is,
  (u, c) =>
    E.chain((d: Deployment): t.Validation<Deployment> => {
      const problems = d.rollout._tag === "Waves" ? waveSelectorProblems(d.rollout) : [];
      return problems.length === 0 ? t.success(d) : t.failure(u, c, `rollout.${problems.join("; rollout.")}`);
    })(DeploymentCodec.validate(u, c) as t.Validation<Deployment>),
  (d) => DeploymentCodec.encode(d),
);

const Priority = t.refinement(t.number, Number.isSafeInteger, "Integer");

const AssignmentShape = t.type({
  _tag: t.literal("Assignment"),
  selector: SelectorCodec,
  deployments: t.array(CheckedDeploymentCodec),
  priority: Priority,
  name: t.string,
});

export const AssignmentCodec = new t.Type<Assignment, unknown, unknown>(
  "Assignment",
  (u): u is Assignment => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Assignment",
  (u, c) => E.chain((a: t.TypeOf<typeof AssignmentShape>) => build(u, c, () => assign(a.selector, a.deployments, { priority: a.priority, name: a.name })))(AssignmentShape.validate(u, c)),
  (a) => a,
);

const Fleet = t.array(DeviceCodec);

/** fp-ts `Option` of the declared fleet, checked by its tag. */
const FleetOptionCodec = new t.Type<ReadonlyArray<t.TypeOf<typeof DeviceCodec>> | undefined, unknown, unknown>(
  "Option<Fleet>",
  (u): u is undefined => u === undefined,
  (u, c) => {
    const tag = typeof u === "object" && u !== null ? (u as { _tag?: unknown })._tag : undefined;
    if (tag === "None") return t.success(undefined);
    // A World holds a Fleet (`{ _tag: "Fleet", devices }`); older copies of the library held the array itself.
    if (tag === "Some")
      return E.map((v: { value: ReadonlyArray<t.TypeOf<typeof DeviceCodec>> | { devices: ReadonlyArray<t.TypeOf<typeof DeviceCodec>> } }) => ("devices" in v.value ? v.value.devices : v.value))(
        t.type({ value: t.union([Fleet, t.type({ _tag: t.literal("Fleet"), devices: Fleet })]) }).validate(u, c),
      );
    return t.failure(u, c, `expected an fp-ts Option of devices ({ _tag: "None" } or { _tag: "Some", value: [...] }), got ${describe(u)}`);
  },
  (f) => f,
);

/** The declarations of ids declared twice differently (absent in older copies of the library). */
const RedeclaredCodec = t.array(t.type({ declarations: Fleet }));

const WorldShape = t.intersection([
  t.type({ _tag: t.literal("World"), fleet: FleetOptionCodec, assignments: t.array(AssignmentCodec) }),
  t.partial({ redeclared: RedeclaredCodec }),
]);

/** Whether a value claims to be a World (before checking that it really is one). */
export const looksLikeWorld = (u: unknown): boolean => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "World";

/** Checks and rebuilds a World from another copy of the library; problems carry their paths. */
export const decodeWorld = (u: unknown): E.Either<ReadonlyArray<DecodeProblem>, World> => {
  if (!looksLikeWorld(u))
    return E.left([{ path: "", message: `expected a World (made by world({ ... })) or a function of the inventory returning one, got ${describe(u)}` }]);
  const notData = plainDataProblem(u);
  if (notData !== undefined) return E.left([notData]);
  const r = WorldShape.decode(u);
  if (E.isLeft(r)) return E.left(decodeProblems(r.left));
  const { fleet, assignments, redeclared } = r.right;
  return E.right(world({ ...(fleet !== undefined ? { fleet: [...fleet, ...(redeclared ?? []).flatMap((r) => r.declarations)] } : {}), assignments }));
};
