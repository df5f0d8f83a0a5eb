/**
 * Checking that a value a fleet file exported is plain data before anything
 * walks it: the codecs, the printer and the content hashes all recurse over
 * it, and a cycle, a `BigInt` or nesting thousands of levels deep would end
 * there as `Maximum call stack size exceeded` or `Do not know how to
 * serialize a BigInt`, naming nothing.
 *
 * Plain data: `null`, booleans, strings, finite numbers, `undefined` (an
 * absent field), arrays and objects whose prototype is `Object.prototype` or
 * `null`, nested at most `MAX_VALUE_DEPTH` levels, without cycles (a value
 * shared by two fields, such as one deployment given to two assignments, is
 * fine). The walk itself is iterative, visits each shared value once, and
 * never throws, whatever the value (a throwing getter or proxy is a problem
 * like any other).
 */
import { errorMessage } from "../algebra/ErrorMessage.ts";
import type { DecodeProblem } from "../algebra/DecodeError.ts";

/** Nesting of objects and arrays; deep enough for a selector of 100 nested groups (docs/selectors.md). */
export const MAX_VALUE_DEPTH = 400;

interface Frame {
  readonly value: object;
  readonly parent: Frame | undefined;
  readonly key: string;
  readonly depth: number;
  /** Levels below this value, known once its children are done. */
  height: number;
}

/** Shown paths keep their start and end: a path thousands of keys long helps nobody. */
const pathOf = (f: Frame | undefined, key?: string): string => {
  const keys: string[] = key === undefined ? [] : [key];
  for (let g = f; g !== undefined && g.parent !== undefined; g = g.parent) keys.push(g.key);
  keys.reverse();
  return keys.length > 12 ? `${keys.slice(0, 8).join(".")}.(${keys.length - 10} more).${keys.slice(-2).join(".")}` : keys.join(".");
};

const tooDeep = (path: string): DecodeProblem => ({ path, message: `nested more than ${MAX_VALUE_DEPTH} levels deep` });

const kindOf = (o: object): string => {
  const proto: unknown = Object.getPrototypeOf(o);
  const name = typeof proto === "object" && proto !== null ? (proto as { constructor?: { name?: unknown } }).constructor?.name : undefined;
  return typeof name === "string" && name !== "" ? `a ${name}` : "an object of a class";
};

const scalarProblem = (u: unknown): string | undefined => {
  switch (typeof u) {
    case "bigint":
      return `a BigInt (${String(u)}n), which JSON cannot carry: use a number or a string`;
    case "symbol":
      return "a symbol, which JSON cannot carry";
    case "function":
      return "a function where data was expected";
    case "number":
      return Number.isFinite(u) ? undefined : `${String(u)}, which JSON cannot carry`;
    default:
      return undefined;
  }
};

/** The first thing in `root` that is not plain data, with its path; `undefined` when all of it is. */
export const plainDataProblem = (root: unknown): DecodeProblem | undefined => {
  const rootProblem = scalarProblem(root);
  if (rootProblem !== undefined) return { path: "", message: rootProblem };
  if (typeof root !== "object" || root === null) return undefined;
  // Values already checked, with the levels below them: a value shared by many fields is walked once.
  const done = new Map<object, number>();
  const onPath = new Map<object, Frame>();
  // A frame is pushed once and stays below its children; `entered` tells its two visits apart. The
  // entered frames on the stack are the path from the root, which is what `onPath` holds.
  const stack: Array<{ readonly frame: Frame; entered: boolean }> = [];
  /** Checks a value on entering it; a new frame goes to `into`, to be walked. */
  const enter = (value: object, parent: Frame | undefined, key: string, into: Frame[]): DecodeProblem | undefined => {
    const depth = parent === undefined ? 0 : parent.depth + 1;
    const known = done.get(value);
    if (known !== undefined) {
      if (parent !== undefined) parent.height = Math.max(parent.height, known + 1);
      return depth + known > MAX_VALUE_DEPTH ? tooDeep(pathOf(parent, key)) : undefined;
    }
    const ancestor = onPath.get(value);
    if (ancestor !== undefined) {
      const at = pathOf(ancestor);
      return { path: pathOf(parent, key), message: `a cycle: refers back to ${at === "" ? "the exported value itself" : at}` };
    }
    if (depth > MAX_VALUE_DEPTH) return tooDeep(pathOf(parent, key));
    if (!Array.isArray(value)) {
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return { path: pathOf(parent, key), message: `${kindOf(value)}, where plain data was expected` };
    }
    into.push({ value, parent, key, depth, height: 0 });
    return undefined;
  };
  try {
    const roots: Frame[] = [];
    const first = enter(root, undefined, "", roots);
    if (first !== undefined) return first;
    stack.push(...roots.map((frame) => ({ frame, entered: false })));
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { readonly frame: Frame; entered: boolean };
      const { frame } = top;
      if (top.entered) {
        stack.pop();
        onPath.delete(frame.value);
        done.set(frame.value, frame.height);
        if (frame.parent !== undefined) frame.parent.height = Math.max(frame.parent.height, frame.height + 1);
        continue;
      }
      // A value shared by two siblings is queued twice and walked once.
      const known = done.get(frame.value);
      if (known !== undefined) {
        if (frame.depth + known > MAX_VALUE_DEPTH) return tooDeep(pathOf(frame));
        stack.pop();
        if (frame.parent !== undefined) frame.parent.height = Math.max(frame.parent.height, known + 1);
        continue;
      }
      top.entered = true;
      onPath.set(frame.value, frame);
      const keys = Array.isArray(frame.value) ? Array.from(frame.value, (_, i) => String(i)) : Object.keys(frame.value);
      const children: Frame[] = [];
      for (const key of keys) {
        const child: unknown = (frame.value as Record<string, unknown>)[key];
        const p = scalarProblem(child);
        if (p !== undefined) return { path: pathOf(frame, key), message: p };
        if (typeof child === "object" && child !== null) {
          const q = enter(child, frame, key, children);
          if (q !== undefined) return q;
        }
      }
      // Reversed onto the stack, so that children are walked (and problems found) in field order.
      for (let i = children.length - 1; i >= 0; i--) stack.push({ frame: children[i] as Frame, entered: false });
    }
    return undefined;
  } catch (e) {
    // A proxy or a getter that throws: reading the value is the problem.
    const at = stack[stack.length - 1]?.frame;
    return { path: pathOf(at), message: `reading the value threw: ${errorMessage(e)}` };
  }
};
