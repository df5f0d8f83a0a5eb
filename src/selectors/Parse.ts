/**
 * Parsing selectors.
 *
 * Accepts the Kubernetes label-selector string grammar as `kubectl get -l` does:
 * requirements separated by `,` (meaning and), each one of `key=v`, `key==v`,
 * `key!=v`, `key in (v1,v2)`, `key notin (v1,v2)`, `key`, `!key`, `key>N`,
 * `key<N`, with Kubernetes' key and value validation. The empty string selects
 * every device, as in Kubernetes.
 *
 * Extensions that plain label selectors cannot express:
 * - `a or b` (binds looser than `,`), grouping with `( … )`;
 * - `not ( … )` and `!( … )`;
 * - `@arch=aarch64`, `@arch!=x86_64`, `@arch in (aarch64, armv7l)`;
 * - `@id in (pi-01, pi-02)`, `@id=pi-01`;
 * - `@all`, `@none`.
 *
 * Errors are values carrying the 0-based column where parsing stopped;
 * `parseSelector` never throws, whatever the input. Groups (parentheses,
 * `not ( … )`, `!( … )`) nest at most `MAX_SELECTOR_NESTING` deep: deeper text
 * is an error at the group that goes over, so that no walk of a parsed
 * selector can run out of stack.
 */
import * as E from "fp-ts/lib/Either.js";
import { labelKeyProblem, labelValueProblem } from "../algebra/Labels.ts";
import { dnsLabelProblem } from "../algebra/Name.ts";
import { isArch } from "../algebra/Device.ts";
import * as S from "./Selector.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";
import type { Selector } from "./Selector.ts";

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

export interface SelectorError {
  readonly _tag: "SelectorError";
  readonly input: string;
  /** 0-based offset into `input`. */
  readonly position: number;
  readonly message: string;
}

/** How much of a long selector the error shows around the column. */
const QUOTE_WIDTH = 72;

/**
 * `message at column N`, then the input with a caret under the column: the
 * whole input when it is short, else a window around the column marked with
 * `…`. Tabs and line breaks show as spaces so that the caret lines up.
 */
export const formatSelectorError = (e: SelectorError): string => {
  const flat = e.input.replace(/[\t\n\r]/g, " ");
  const start = flat.length <= QUOTE_WIDTH ? 0 : Math.max(0, Math.min(e.position - QUOTE_WIDTH / 2, flat.length - QUOTE_WIDTH));
  const end = Math.min(flat.length, start + QUOTE_WIDTH);
  const before = start > 0 ? "…" : "";
  const shown = `${before}${flat.slice(start, end)}${end < flat.length ? "…" : ""}`;
  return `${e.message} at column ${e.position + 1}\n  ${shown}\n  ${" ".repeat(before.length + e.position - start)}^`;
};

// -------------------------------------------------------------------------------------
// lexer
// -------------------------------------------------------------------------------------

type TokenKind = "(" | ")" | "," | "!" | "=" | "==" | "!=" | ">" | "<" | "ident" | "eof";
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly pos: number;
}

const SPECIAL = new Set(["(", ")", ",", "!", "=", ">", "<"]);
const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r";

const lex = (input: string): Token[] => {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] as string;
    if (isSpace(c)) {
      i++;
      continue;
    }
    const two = input.slice(i, i + 2);
    if (two === "==" || two === "!=") {
      tokens.push({ kind: two, text: two, pos: i });
      i += 2;
    } else if (SPECIAL.has(c)) {
      tokens.push({ kind: c as TokenKind, text: c, pos: i });
      i++;
    } else {
      const start = i;
      while (i < input.length && !SPECIAL.has(input[i] as string) && !isSpace(input[i] as string)) i++;
      tokens.push({ kind: "ident", text: input.slice(start, i), pos: start });
    }
  }
  tokens.push({ kind: "eof", text: "", pos: input.length });
  return tokens;
};

// -------------------------------------------------------------------------------------
// parser (recursive descent; throws a private signal turned into a Left at the top)
// -------------------------------------------------------------------------------------

class Stop {
  constructor(
    readonly position: number,
    readonly message: string,
  ) {}
}

const describeToken = (t: Token): string => (t.kind === "eof" ? "end of input" : `'${t.text}'`);

/** How deep groups may nest in selector text (stated in docs/selectors.md). */
export const MAX_SELECTOR_NESTING = 100;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)] as Token;
  }
  private next(): Token {
    const t = this.peek();
    if (t.kind !== "eof") this.i++;
    return t;
  }
  private expect(kind: TokenKind, what: string): Token {
    const t = this.peek();
    if (t.kind !== kind) throw new Stop(t.pos, `expected ${what}, found ${describeToken(t)}`);
    return this.next();
  }
  private isKeyword(t: Token, word: string): boolean {
    return t.kind === "ident" && t.text === word;
  }

  parseTop(): Selector {
    if (this.peek().kind === "eof") return S.all;
    const s = this.parseOr();
    const t = this.peek();
    if (t.kind !== "eof") throw new Stop(t.pos, `expected ',' or 'or', found ${describeToken(t)}`);
    return s;
  }

  private parseOr(): Selector {
    const terms = [this.parseAnd()];
    while (this.isKeyword(this.peek(), "or")) {
      this.next();
      terms.push(this.parseAnd());
    }
    return S.or(...terms);
  }

  private parseAnd(): Selector {
    const factors = [this.parseFactor()];
    while (this.peek().kind === ",") {
      this.next();
      factors.push(this.parseFactor());
    }
    return S.and(...factors);
  }

  private group(): Selector {
    const open = this.expect("(", "'('");
    if (this.depth >= MAX_SELECTOR_NESTING) throw new Stop(open.pos, `groups nested more than ${MAX_SELECTOR_NESTING} deep`);
    this.depth++;
    const s = this.parseOr();
    this.expect(")", "')' to close the group");
    this.depth--;
    return s;
  }

  private parseFactor(): Selector {
    const t = this.peek();
    if (t.kind === "(") return this.group();
    if (t.kind === "!") {
      this.next();
      if (this.peek().kind === "(") return S.not(this.group());
      const key = this.key();
      return S.lacksLabel(key);
    }
    if (t.kind === "ident") {
      if (t.text === "not" && this.peek(1).kind === "(") {
        this.next();
        return S.not(this.group());
      }
      if (t.text.startsWith("@")) return this.special();
      return this.requirement();
    }
    throw new Stop(t.pos, `expected a requirement, found ${describeToken(t)}`);
  }

  private key(): string {
    const t = this.peek();
    if (t.kind !== "ident") throw new Stop(t.pos, `expected a label key, found ${describeToken(t)}`);
    const problem = labelKeyProblem(t.text);
    if (problem !== undefined) throw new Stop(t.pos, `invalid label key '${t.text}': ${problem}`);
    this.next();
    return t.text;
  }

  /** A value may be empty (`key=`), as in Kubernetes. */
  private value(key: string): string {
    const t = this.peek();
    if (t.kind !== "ident") return "";
    const problem = labelValueProblem(t.text);
    if (problem !== undefined) throw new Stop(t.pos, `invalid value '${t.text}' for label '${key}': ${problem}`);
    this.next();
    return t.text;
  }

  /**
   * `( v1, v2 )`, read as Kubernetes reads it: an empty element (`(a,)`,
   * `(,a)`, `(a,,b)`) is the empty value, and so is an empty list (`()` means
   * `("")`). Every element, empty ones included, passes `check`.
   */
  private values(check: (text: string, pos: number) => void): string[] {
    this.expect("(", "'(' to start a value list");
    const out: Array<readonly [string, number]> = [];
    let expectValue = true;
    for (;;) {
      const t = this.peek();
      if (t.kind === ")") {
        if (expectValue) out.push(["", t.pos]);
        this.next();
        break;
      }
      if (t.kind === ",") {
        if (expectValue) out.push(["", t.pos]);
        expectValue = true;
        this.next();
        continue;
      }
      if (t.kind === "ident" && expectValue) {
        out.push([t.text, t.pos]);
        expectValue = false;
        this.next();
        continue;
      }
      throw new Stop(t.pos, `expected a value, ',' or ')', found ${describeToken(t)}`);
    }
    for (const [text, pos] of out) check(text, pos);
    return out.map(([text]) => text);
  }

  private integer(key: string): number {
    const t = this.peek();
    if (t.kind !== "ident" || !/^[-+]?\d+$/.test(t.text) || !Number.isSafeInteger(Number(t.text)))
      throw new Stop(t.pos, `expected an integer for '${key}', found ${describeToken(t)}`);
    this.next();
    return Number(t.text);
  }

  private requirement(): Selector {
    const key = this.key();
    const op = this.peek();
    const checkValue = (text: string, pos: number): void => {
      const p = labelValueProblem(text);
      if (p !== undefined) throw new Stop(pos, `invalid value '${text}' for label '${key}': ${p}`);
    };
    switch (op.kind) {
      case "=":
      case "==":
        this.next();
        return S.label(key, this.value(key));
      case "!=":
        this.next();
        return S.labelNotEquals(key, this.value(key));
      case ">":
        this.next();
        return S.labelGt(key, this.integer(key));
      case "<":
        this.next();
        return S.labelLt(key, this.integer(key));
      case "ident":
        if (op.text === "in") {
          this.next();
          return S.labelIn(key, this.values(checkValue));
        }
        if (op.text === "notin") {
          this.next();
          return S.labelNotIn(key, this.values(checkValue));
        }
        if (op.text === "or") return S.hasLabel(key);
        throw new Stop(op.pos, `expected an operator (=, ==, !=, in, notin, >, <), ',' or 'or', found ${describeToken(op)}`);
      default:
        return S.hasLabel(key);
    }
  }

  private special(): Selector {
    const t = this.next();
    const checkArch = (text: string, pos: number): void => {
      if (!isArch(text)) throw new Stop(pos, `invalid arch '${text}'`);
    };
    const checkId = (text: string, pos: number): void => {
      const p = dnsLabelProblem(text);
      if (p !== undefined) throw new Stop(pos, `invalid device id '${text}': ${p}`);
    };
    const single = (check: (text: string, pos: number) => void): string => {
      const v = this.peek();
      if (v.kind !== "ident") throw new Stop(v.pos, `expected a value, found ${describeToken(v)}`);
      check(v.text, v.pos);
      this.next();
      return v.text;
    };
    const withOperator = (build: (values: string[]) => Selector, check: (text: string, pos: number) => void): Selector => {
      const op = this.peek();
      if (op.kind === "=" || op.kind === "==") {
        this.next();
        return build([single(check)]);
      }
      if (op.kind === "!=") {
        this.next();
        return S.not(build([single(check)]));
      }
      if (this.isKeyword(op, "in")) {
        this.next();
        return build(this.values(check));
      }
      if (this.isKeyword(op, "notin")) {
        this.next();
        return S.not(build(this.values(check)));
      }
      throw new Stop(op.pos, `expected =, !=, in or notin after '${t.text}', found ${describeToken(op)}`);
    };
    switch (t.text) {
      case "@all":
        return S.all;
      case "@none":
        return S.none;
      case "@arch":
        return withOperator((vs) => S.or(...vs.map(S.arch)), checkArch);
      case "@id":
        return withOperator((vs) => S.deviceIds(vs), checkId);
      default:
        throw new Stop(t.pos, `unknown '${t.text}' (expected @arch, @id, @all or @none)`);
    }
  }
}

/** Parses the selector language; `Left` carries the position and reason of the first problem. */
export const parseSelector = (text: string): E.Either<SelectorError, Selector> => {
  try {
    return E.right(new Parser(lex(text)).parseTop());
  } catch (e) {
    if (e instanceof Stop) return E.left({ _tag: "SelectorError", input: text, position: e.position, message: e.message });
    if (e instanceof S.InvalidSelectorError) return E.left({ _tag: "SelectorError", input: text, position: 0, message: e.message });
    // Nothing else is expected; the contract is an Either all the same (a RangeError from a platform with a tiny stack).
    return E.left({ _tag: "SelectorError", input: text, position: 0, message: `cannot parse: ${errorMessage(e)}` });
  }
};
