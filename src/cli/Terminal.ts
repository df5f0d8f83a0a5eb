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
}

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
  err: (text) => void stderr.write(`${text}\n`),
  errRaw: (text) => void stderr.write(text),
  o: paint(colorEnabled(stdout, env)),
  e: paint(colorEnabled(stderr, env)),
  stdinIsTTY: stdin.isTTY === true,
  stderrIsTTY: stderr.isTTY === true,
});
