/**
 * Reading the trust material at the CLI edge: the control plane's signing
 * key (a file, mode 0600, or the environment variable FLEET_SIGNING_KEY
 * holding the same JSON) and the trust file agents verify against. Every
 * failure is one line naming the file and what is wrong.
 */
import { readFile, stat } from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import { errorMessage } from "../algebra/ErrorMessage.ts";
import { decodeSigningKey, decodeTrustStore, formatKeyFileError, type SigningKey, type TrustStore } from "../trust/Keys.ts";
import { DEFAULT_SIGNATURE_TTL_MS } from "../trust/Signer.ts";
import { orUsage, parseWindow } from "./Args.ts";
import { CliError } from "./CliError.ts";

export const SIGNING_KEY_ENV = "FLEET_SIGNING_KEY";

const readText = async (path: string, what: string): Promise<string> => {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CliError(`${what} ${path} does not exist`);
    if (code === "EISDIR") throw new CliError(`${what} ${path} is a directory`);
    if (code === "EACCES") throw new CliError(`${what} ${path} is not readable (permission denied)`);
    throw new CliError(`${what} ${path} cannot be read: ${errorMessage(e)}`);
  }
};

/** The signing key from `path`, or from FLEET_SIGNING_KEY when no path is given. */
export const loadSigningKey = async (path: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<SigningKey> => {
  if (path === undefined) {
    const text = env[SIGNING_KEY_ENV];
    if (text === undefined || text === "") throw new CliError(`no signing key: pass --signing-key FILE or set ${SIGNING_KEY_ENV}`);
    const k = decodeSigningKey(text);
    if (E.isLeft(k)) throw new CliError(`${SIGNING_KEY_ENV}: not a signing key: ${formatKeyFileError(k.left)}`);
    return k.right;
  }
  const text = await readText(path, "signing key file");
  const mode = (await stat(path)).mode & 0o077;
  if (mode !== 0) throw new CliError(`signing key file ${path} is readable by others (mode ${((await stat(path)).mode & 0o777).toString(8)}); run chmod 600 ${path}`);
  const k = decodeSigningKey(text);
  if (E.isLeft(k)) throw new CliError(`signing key file ${path}: ${formatKeyFileError(k.left)}`);
  return k.right;
};

export const loadTrustStore = async (path: string): Promise<TrustStore> => {
  const store = decodeTrustStore(await readText(path, "trust file"));
  if (E.isLeft(store)) throw new CliError(`trust file ${path}: ${formatKeyFileError(store.left)}`);
  return store.right;
};

/** The trust file, or an empty store when it does not exist yet (for `keys generate`). */
export const loadTrustStoreOrEmpty = async (path: string, empty: TrustStore): Promise<TrustStore> =>
  stat(path).then(
    () => loadTrustStore(path),
    () => empty,
  );

/** The flags of a command that signs what it publishes (`fleet apply`). */
export const signingFlags = {
  "signing-key": { type: "string" },
  "signature-ttl": { type: "string" },
} as const;

export const signingHelp = `  --signing-key FILE            sign every entry written with this key (or set ${SIGNING_KEY_ENV}; NATS only)
  --signature-ttl DURATION      how long the signatures stay valid (default 30d, at most 366d)`;

const MAX_SIGNATURE_TTL_DAYS = 366;

/**
 * The signing a command was asked for: `--signing-key FILE`, else FLEET_SIGNING_KEY; none: unsigned.
 * Only NATS carries signatures: the flag with another backend is an error; the variable is ignored there.
 */
export const signingOf = async (
  command: string,
  values: { readonly "signing-key"?: string; readonly "signature-ttl"?: string },
  backend: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ readonly key: SigningKey; readonly ttlMs: number } | undefined> => {
  const path = values["signing-key"];
  const fromEnv = env[SIGNING_KEY_ENV] !== undefined && env[SIGNING_KEY_ENV] !== "";
  if (path === undefined && (!fromEnv || backend !== "nats")) {
    if (values["signature-ttl"] !== undefined) throw new CliError(`${command}: --signature-ttl needs a signing key (--signing-key FILE or ${SIGNING_KEY_ENV})`);
    return undefined;
  }
  if (backend !== "nats") throw new CliError(`${command}: --signing-key: signed desired state is carried by the NATS backend only (this is ${backend})`);
  const ttlMs = values["signature-ttl"] === undefined ? DEFAULT_SIGNATURE_TTL_MS : orUsage(command, parseWindow("--signature-ttl", values["signature-ttl"], MAX_SIGNATURE_TTL_DAYS));
  return { key: await loadSigningKey(path, env), ttlMs };
};
