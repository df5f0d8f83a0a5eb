/**
 * Command-line arguments: `node:util` `parseArgs` in strict mode (an unknown
 * flag is an error, never ignored), with its errors rewritten into one clear
 * line, and decoders for flag values (durations, enumerations, entry keys).
 *
 * Flag-value decoders return `Either<string, A>` (the message names the flag
 * and the expected form); they never throw, whatever the input (fuzzed in
 * test/cli/decoders.test.ts).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { parseDeploymentName, parseDeviceId, type DeploymentName, type DeviceId } from "../algebra/Name.ts";
import { UsageError } from "./CliError.ts";
import { didYouMean } from "./Suggest.ts";
import { labelKeyProblem, labelValueProblem, type Labels } from "../algebra/Labels.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** `--help`/`-h` anywhere before a `--`. */
export const wantsHelp = (argv: ReadonlyArray<string>): boolean => {
  for (const a of argv) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
};

/** `--name` and `-n` of every flag a command knows. */
const flagNames = (options: Options): ReadonlyArray<string> =>
  Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])]);

const rewrite = (e: unknown, command: string, options: Options): string => {
  const hint = `(see 'fleet ${command} --help')`;
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const flag = /'([^']+)'/.exec(msg)?.[1] ?? msg;
      return `unknown flag ${flag}${didYouMean(flag.split("=")[0] as string, flagNames(options))} ${hint}`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = /'(-[^' ]+)/.exec(msg)?.[1];
      return flag !== undefined && /argument missing/.test(msg)
        ? `flag ${flag} needs a value ${hint}`
        : flag !== undefined && /does not take an argument/.test(msg)
          ? `flag ${flag} takes no value ${hint}`
          : `${msg} ${hint}`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${hint}`;
    default:
      return `${msg} ${hint}`;
  }
};

/** Strict parse; positionals are allowed (commands check their count). */
/** What `parseFlags` returns: node's own result type for a strict parse with positionals. */
export type ParsedFlags<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

export const parseFlags = <O extends Options>(command: string, argv: ReadonlyArray<string>, options: O): ParsedFlags<O> => {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(rewrite(e, command, options));
  }
};

/** Throws a usage error unless `min <= positionals.length <= max`. */
export const expectPositionals = (
  command: string,
  positionals: ReadonlyArray<string>,
  min: number,
  max: number,
  what: string,
): void => {
  if (positionals.length < min) throw new UsageError(`missing ${what} (see 'fleet ${command} --help')`);
  if (positionals.length > max)
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])} (see 'fleet ${command} --help')`);
};

/** Takes a decoded flag value or throws its message as a usage error. */
export const orUsage = <A>(command: string, e: E.Either<string, A>): A => {
  if (E.isLeft(e)) throw new UsageError(`${e.left} (see 'fleet ${command} --help')`);
  return e.right;
};

// -------------------------------------------------------------------------------------
// flag-value decoders
// -------------------------------------------------------------------------------------

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longer waits are surely a typo (and overflow timers). */
export const MAX_DURATION_MS = 24 * 3_600_000;

const duration = (flag: string, text: string, units: RegExp, example: string, maxMs: number, max: string): E.Either<string, number> => {
  const m = units.exec(text.trim());
  if (m === null) return E.left(`${flag}: expected a duration like ${example}, got ${JSON.stringify(text)}`);
  const ms = Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? "s"] as number));
  if (ms > maxMs) return E.left(`${flag}: ${text} is longer than ${max}`);
  return E.right(ms);
};

/** `500ms`, `30s`, `5m`, `1h`, at most 24h; a bare number is seconds (as Terraform's `-lock-timeout`). */
export const parseDuration = (flag: string, text: string): E.Either<string, number> =>
  duration(flag, text, /^(\d{1,9}(?:\.\d{1,6})?)(ms|s|m|h)?$/, "30s, 500ms or 5m", MAX_DURATION_MS, "24h");

/** Validity windows (key overlaps, credential lifetimes): `12h`, `7d`, `90d`, at most `maxDays` days. */
export const parseWindow = (flag: string, text: string, maxDays: number): E.Either<string, number> =>
  duration(flag, text, /^(\d{1,9}(?:\.\d{1,6})?)(s|m|h|d)$/, "12h, 7d or 90d", maxDays * UNIT_MS["d"]!, `${maxDays}d`);

/** One of a fixed set of words. */
export const parseChoice = <A extends string>(flag: string, choices: ReadonlyArray<A>, text: string): E.Either<string, A> =>
  (choices as ReadonlyArray<string>).includes(text)
    ? E.right(text as A)
    : E.left(`${flag}: expected one of ${choices.join(", ")}, got ${JSON.stringify(text)}`);

/** `DEVICE.DEPLOYMENT` (the KV key form), optionally `=MESSAGE`. */
export const parseEntryKey = (
  flag: string,
  text: string,
): E.Either<string, { readonly device: DeviceId; readonly deployment: DeploymentName; readonly message?: string }> => {
  const eq = text.indexOf("=");
  const key = eq === -1 ? text : text.slice(0, eq);
  const dot = key.indexOf(".");
  if (dot === -1) return E.left(`${flag}: expected DEVICE.DEPLOYMENT, got ${JSON.stringify(text)}`);
  const d = parseDeviceId(key.slice(0, dot));
  if (E.isLeft(d)) return E.left(`${flag}: invalid device id ${JSON.stringify(key.slice(0, dot))}: ${d.left.reason}`);
  const n = parseDeploymentName(key.slice(dot + 1));
  if (E.isLeft(n)) return E.left(`${flag}: invalid deployment name ${JSON.stringify(key.slice(dot + 1))}: ${n.left.reason}`);
  return E.right({ device: d.right, deployment: n.right, ...(eq === -1 ? {} : { message: text.slice(eq + 1) }) });
};

/** A device id given on the command line. */
export const parseDeviceArg = (flag: string, text: string): E.Either<string, DeviceId> =>
  E.mapLeft((e: { reason: string }) => `${flag}: invalid device id ${JSON.stringify(text)}: ${e.reason}`)(parseDeviceId(text));

/** `k=v,k2=v2` (empty: no labels), each key and value valid as a Kubernetes label. */
export const parseLabelsArg = (flag: string, text: string): E.Either<string, Labels> => {
  const out: Record<string, string> = {};
  if (text.trim() === "") return E.right(out);
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq === -1) return E.left(`${flag}: expected k=v[,k=v...], got ${JSON.stringify(part)}`);
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    const kp = labelKeyProblem(k);
    if (kp !== undefined) return E.left(`${flag}: label key ${JSON.stringify(k)}: ${kp}`);
    const vp = labelValueProblem(v);
    if (vp !== undefined) return E.left(`${flag}: label ${JSON.stringify(k)} value ${JSON.stringify(v)} ${vp}`);
    if (Object.prototype.hasOwnProperty.call(out, k)) return E.left(`${flag}: label ${JSON.stringify(k)} given twice`);
    out[k] = v;
  }
  return E.right(out);
};
