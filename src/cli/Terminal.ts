/**
 * Where the CLI writes, and whether it may colour what it writes.
 *
 * Colour follows the usual conventions, decided per stream:
 * `FORCE_COLOR` (set and not `0`/`false`) turns it on, then `NO_COLOR`
 * (set and non-empty) turns it off, then it is on only for a terminal whose
 * `TERM` is not `dumb`. Styles come from `node:util` `styleText`, told not to
 * validate a stream of its own: the decision is made here, per stream.
 */
import { styleText } from "node:util";

type Env = Readonly<Record<string, string | undefined>>;

export interface Stream {
  readonly isTTY?: boolean;
  write(s: string): unknown;
  /** Node's writable streams: set once written past their buffer (a pipe whose reader is slower). */
  readonly writableNeedDrain?: boolean;
  readonly destroyed?: boolean;
  once?(event: "drain" | "close" | "error", listener: () => void): unknown;
  off?(event: "drain" | "close" | "error", listener: () => void): unknown;
}

const DRAIN_EVENTS = ["drain", "close", "error"] as const;

/** When `s` holds more than its buffer: a promise of the moment it has written it out (or closed); else undefined. */
const drained = (s: Stream): Promise<void> | undefined => {
  if (s.writableNeedDrain !== true || s.destroyed === true || s.once === undefined) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      for (const e of DRAIN_EVENTS) s.off?.(e, done);
      resolve();
    };
    for (const e of DRAIN_EVENTS) s.once?.(e, done);
  });
};

/** Lines are written in chunks of about this many characters. */
const OUT_CHUNK = 1 << 16;

export const colorEnabled = (stream: Pick<Stream, "isTTY">, env: Env = process.env): boolean => {
  const force = env["FORCE_COLOR"];
  if (force !== undefined) return !(force === "0" || force === "false");
  const no = env["NO_COLOR"];
  if (no !== undefined && no !== "") return false;
  return stream.isTTY === true && env["TERM"] !== "dumb";
};

export interface Paint {
  readonly bold: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly red: (s: string) => string;
  readonly green: (s: string) => string;
  readonly yellow: (s: string) => string;
  readonly cyan: (s: string) => string;
}

type Format = Parameters<typeof styleText>[0];

export const paint = (enabled: boolean): Paint => {
  const s =
    (f: Format) =>
    (text: string): string =>
      // The decision is ours (per stream, above): newer Node 20 releases would
      // otherwise re-check process.stdout and the environment (CI=true turns colour off).
      enabled ? styleText(f, text, { validateStream: false }) : text;
  return { bold: s("bold"), dim: s("dim"), red: s("red"), green: s("green"), yellow: s("yellow"), cyan: s("cyan") };
};

export interface Terminal {
  /** Writes a line (or lines) to stdout. */
  readonly out: (text: string) => void;
  /**
   * Writes many lines to stdout (a million-device plan), in chunks, waiting whenever stdout holds
   * more than its buffer: on Linux a write to a pipe does not block, so without waiting every line
   * a slower reader has not taken yet would be held in memory.
   */
  readonly outLines: (lines: Iterable<string>) => Promise<void>;
  /** Writes a line (or lines) to stderr. */
  readonly err: (text: string) => void;
  /** Styles for text bound for stdout / stderr. */
  readonly o: Paint;
  readonly e: Paint;
  readonly stdinIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** Writes to stderr without a newline (progress on a terminal). */
  readonly errRaw: (text: string) => void;
}

export const terminal = (
  stdout: Stream = process.stdout,
  stderr: Stream = process.stderr,
  stdin: Pick<Stream, "isTTY"> = process.stdin,
  env: Env = process.env,
): Terminal => ({
  out: (text) => void stdout.write(`${text}\n`),
  outLines: async (lines) => {
    let chunk = "";
    for (const l of lines) {
      chunk += `${l}\n`;
      if (chunk.length < OUT_CHUNK) continue;
      stdout.write(chunk);
      chunk = "";
      const wait = drained(stdout);
      if (wait !== undefined) await wait;
    }
    if (chunk !== "") stdout.write(chunk);
  },
  err: (text) => void stderr.write(`${text}\n`),
  errRaw: (text) => void stderr.write(text),
  o: paint(colorEnabled(stdout, env)),
  e: paint(colorEnabled(stderr, env)),
  stdinIsTTY: stdin.isTTY === true,
  stderrIsTTY: stderr.isTTY === true,
});
