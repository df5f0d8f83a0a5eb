/**
 * `fleet enroll`: on a fresh device, exchange an enrollment bundle (fleet
 * credentials token) for the device's own NATS creds. The device makes its
 * key pair; only the public key is sent; the creds file is written
 * atomically, mode 600, and never over an existing file.
 *
 * Everything that can be checked before the token is spent is checked
 * first (the bundle, its expiry, the device id, that the creds file can be
 * written), so a mistake here does not burn a single-use token.
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { decodeBundle, formatBundleError } from "../../interpreters/nats/Enrollment.ts";
import { isExpired } from "../../trust/EnrollmentToken.ts";
import { orUsage, parseDeviceArg, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { decodeNatsFlags } from "../backends.ts";
import { CliError, UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { writeSecretFile } from "../SecretFile.ts";
import { terminal } from "../Terminal.ts";

export const help = `Usage: fleet enroll --token FILE|- --nats URL[,URL] --creds-out FILE [flags]

Enrols this device: generates its NATS key pair here, presents the
enrollment token (fleet credentials token) with the public key to the
enrollment service (fleet credentials serve), and writes the device's own
creds to FILE (mode 600). The token is valid once and until it expires; the
private key never leaves the device. Then run the agent with them:

  fleet agent --device-id ID --nats URL --nats-creds FILE --scoped

Flags:
  --token FILE|-         the enrollment bundle (- reads it from stdin)        (required)
  --nats URL[,URL]       NATS servers (env FLEET_NATS_URL)                    (required)
  --creds-out FILE       where to write the creds; must not exist yet        (required)
  --device-id ID         refuse a token for another device
  --timeout DURATION     per attempt, e.g. 5s (default 5s; 3 attempts)
  --nats-tls-ca FILE  --nats-tls-cert FILE  --nats-tls-key FILE
  -h, --help

Exit codes: 0 enrolled, 1 error (nothing written).`;

const flags = {
  help: { type: "boolean", short: "h" },
  token: { type: "string" },
  nats: { type: "string" },
  "creds-out": { type: "string" },
  "device-id": { type: "string" },
  timeout: { type: "string" },
  "nats-tls-ca": { type: "string" },
  "nats-tls-cert": { type: "string" },
  "nats-tls-key": { type: "string" },
} as const;

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
};

const readToken = async (path: string): Promise<string> => {
  if (path === "-") return readStdin();
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CliError(`enrollment token ${path} does not exist`);
    if (code === "EISDIR") throw new CliError(`enrollment token ${path} is a directory`);
    if (code === "EACCES") throw new CliError(`enrollment token ${path} is not readable (permission denied)`);
    throw new CliError(`enrollment token ${path} cannot be read: ${errorMessage(e)}`);
  }
};

/** The creds file must be new, in a writable directory: checked before the token is spent. */
const checkWritable = async (path: string): Promise<void> => {
  const there = await stat(path).then(
    () => true,
    () => false,
  );
  if (there) throw new CliError(`${path} already exists (refusing to overwrite it; the token was not used)`);
  const dir = dirname(resolve(path));
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new CliError(`cannot write ${path}: the directory ${dir} does not exist or is not writable (the token was not used)`);
  }
};

export const run = async (argv: ReadonlyArray<string>, now: Date = new Date()): Promise<number> => {
  const term = terminal();
  if (wantsHelp(argv)) {
    term.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("enroll", argv, flags);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see 'fleet enroll --help')`);
  const tokenPath = values.token;
  if (tokenPath === undefined) throw new UsageError("--token FILE is required (see 'fleet enroll --help')");
  const out = values["creds-out"];
  if (out === undefined || out === "") throw new UsageError("--creds-out FILE is required (see 'fleet enroll --help')");
  const nats = decodeNatsFlags(values, process.env);
  if (E.isLeft(nats)) throw new UsageError(`${nats.left} (see 'fleet enroll --help')`);
  const expectedId = values["device-id"] === undefined ? undefined : orUsage("enroll", parseDeviceArg("--device-id", values["device-id"]));
  const timeoutMs = values.timeout === undefined ? 5_000 : orUsage("enroll", parseDuration("--timeout", values.timeout));

  const where = tokenPath === "-" ? "the enrollment token on stdin" : tokenPath;
  const decoded = decodeBundle(await readToken(tokenPath));
  if (E.isLeft(decoded)) throw new CliError(`${where}: ${formatBundleError(decoded.left)}`);
  const { bundle, claims } = decoded.right;
  if (isExpired(claims, now)) throw new CliError(`${where}: the enrollment token expired at ${claims.expiresAt.toISOString()} (issue a new one: fleet credentials token)`);
  if (expectedId !== undefined && expectedId !== claims.device) throw new CliError(`${where}: the token is for device ${claims.device}, not ${expectedId}`);
  await checkWritable(out);

  const { enrollDevice, formatEnrollError } = await import("../../interpreters/nats/Enroll.ts");
  const result = await enrollDevice(bundle, claims, nats.right, { now, timeoutMs });
  if (E.isLeft(result)) {
    const tokenRelated = result.left._tag === "Expired" || result.left._tag === "Refused" || result.left._tag === "CredsRefused";
    throw new CliError(`${tokenRelated ? `${where}: ` : ""}${formatEnrollError(result.left)}`);
  }
  await writeSecretFile(out, result.right.creds);
  term.out(`Enrolled device ${claims.device}: its creds are in ${out} (mode 600; account ${result.right.audience}).`);
  term.out(`Run its agent: fleet agent --device-id ${claims.device} --nats ${nats.right.servers.join(",")} --nats-creds ${out} --scoped`);
  return ExitCode.Ok;
};
