/**
 * `fleet keys generate|list|rotate|revoke`: the control plane's signing keys
 * and the trust file agents verify desired state against (docs/security.md).
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import {
  addKey,
  emptyTrustStore,
  encodeSigningKey,
  encodeTrustStore,
  formatKeyRejection,
  generateSigningKey,
  keyFor,
  retireKey,
  revokeKey,
  type TrustStore,
} from "../../trust/Keys.ts";
import { expectPositionals, orUsage, parseFlags, parseWindow, wantsHelp } from "../Args.ts";
import { CliError, UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { writeSecretFile } from "../SecretFile.ts";
import { table } from "../Table.ts";
import { terminal } from "../Terminal.ts";
import { loadSigningKey, loadTrustStore, loadTrustStoreOrEmpty } from "../TrustFiles.ts";

export const help = `Usage: fleet keys <generate|list|rotate|revoke> [flags]

Signing keys for desired state. The control plane signs every desired entry
it publishes (one Ed25519 signature per apply over a Merkle root of the
entries); agents run only entries signed by a key in their trust file.

  fleet keys generate --key FILE --trust FILE
      A new signing key (FILE written mode 0600; never overwritten) and its
      public key added to the trust file (created when missing).
  fleet keys list --trust FILE
      The trusted keys and whether each verifies now.
  fleet keys rotate --key FILE --trust FILE [--overlap 7d]
      A new signing key replaces FILE; the old key stays trusted for the
      overlap window (entries it signed keep running while they are re-signed
      by the next apply), then is rejected.
  fleet keys revoke KID --trust FILE --reason TEXT
      Rejects the key at once: agents refuse everything it signed.

After changing the trust file, distribute it to the agents (--trust FILE).
The signing key may also come from the environment: FLEET_SIGNING_KEY holds
the key file's JSON.

Flags:
  --key FILE       the signing key file
  --trust FILE     the trust file
  --overlap DUR    rotate: how long the old key stays valid (default 7d, at most 365d)
  --reason TEXT    revoke: why (recorded in the trust file)
  -h, --help       show this help

Exit codes: 0 success, 1 error.`;

const MAX_OVERLAP_DAYS = 365;

const requireFlag = (value: string | undefined, flag: string, sub: string): string => {
  if (value === undefined || value === "") throw new UsageError(`fleet keys ${sub}: ${flag} FILE is required (see 'fleet keys --help')`);
  return value;
};

const status = (store: TrustStore, kid: string, now: Date): string =>
  pipe(
    keyFor(store, kid, now),
    E.match(
      (r) => (r._tag === "RevokedKey" ? `revoked (${r.reason})` : r._tag === "RetiredKey" ? "retired" : formatKeyRejection(r)),
      (k) => (k.validUntil !== undefined ? `valid until ${k.validUntil.toISOString()}` : "valid"),
    ),
  );

export const run = async (argv: ReadonlyArray<string>, now: Date = new Date()): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("keys", argv, {
    help: { type: "boolean", short: "h" },
    key: { type: "string" },
    trust: { type: "string" },
    overlap: { type: "string" },
    reason: { type: "string" },
  });
  const [sub, ...args] = positionals;
  switch (sub) {
    case "generate": {
      expectPositionals("keys generate", args, 0, 0, "no arguments (fleet keys generate --key FILE --trust FILE)");
      const keyPath = requireFlag(values.key, "--key", "generate");
      const trustPath = requireFlag(values.trust, "--trust", "generate");
      const trust = await loadTrustStoreOrEmpty(trustPath, emptyTrustStore);
      const key = generateSigningKey(now);
      await writeSecretFile(keyPath, encodeSigningKey(key));
      await writeSecretFile(trustPath, encodeTrustStore(addKey(key.publicJwk, now)(trust)), { overwrite: true, mode: 0o644 });
      t.out(`Generated signing key ${key.kid} in ${keyPath} (mode 600); trusted in ${trustPath}.`);
      return ExitCode.Ok;
    }
    case "list": {
      expectPositionals("keys list", args, 0, 0, "no arguments (fleet keys list --trust FILE)");
      const trust = await loadTrustStore(requireFlag(values.trust, "--trust", "list"));
      if (trust.keys.size === 0) {
        t.out("No trusted keys.");
        return ExitCode.Ok;
      }
      t.out(table(["KID", "ADDED", "STATUS"], [...trust.keys.values()].map((k) => [k.kid, k.added.toISOString(), status(trust, k.kid, now)])).join("\n"));
      return ExitCode.Ok;
    }
    case "rotate": {
      expectPositionals("keys rotate", args, 0, 0, "no arguments (fleet keys rotate --key FILE --trust FILE)");
      const keyPath = requireFlag(values.key, "--key", "rotate");
      const trustPath = requireFlag(values.trust, "--trust", "rotate");
      const overlapMs = orUsage("keys", parseWindow("--overlap", values.overlap ?? "7d", MAX_OVERLAP_DAYS));
      const old = await loadSigningKey(keyPath);
      const trust = await loadTrustStore(trustPath);
      const next = generateSigningKey(now);
      const until = new Date(now.getTime() + overlapMs);
      const retired = retireKey(old.kid, until)(trust);
      if (E.isLeft(retired)) throw new CliError(`trust file ${trustPath} does not trust the current key ${old.kid}; add it or generate anew`);
      // Trust the new key before the signer switches to it, so no agent ever sees an entry it cannot verify.
      await writeSecretFile(trustPath, encodeTrustStore(addKey(next.publicJwk, now)(retired.right)), { overwrite: true, mode: 0o644 });
      await writeSecretFile(keyPath, encodeSigningKey(next), { overwrite: true });
      t.out(`Rotated: signing key ${next.kid} in ${keyPath}; the old key ${old.kid} stays valid until ${until.toISOString()}.`);
      t.out(`Distribute ${trustPath} to the agents, then re-apply so every entry is re-signed before then.`);
      return ExitCode.Ok;
    }
    case "revoke": {
      expectPositionals("keys revoke", args, 1, 1, "KID (fleet keys revoke KID --trust FILE --reason TEXT)");
      const kid = args[0] as string;
      const trustPath = requireFlag(values.trust, "--trust", "revoke");
      if (values.reason === undefined || values.reason.trim() === "") throw new UsageError("fleet keys revoke: --reason TEXT is required (see 'fleet keys --help')");
      const trust = await loadTrustStore(trustPath);
      const revoked = revokeKey(kid, now, values.reason)(trust);
      if (E.isLeft(revoked)) throw new CliError(`trust file ${trustPath} has no key ${kid} (see 'fleet keys list --trust ${trustPath}')`);
      await writeSecretFile(trustPath, encodeTrustStore(revoked.right), { overwrite: true, mode: 0o644 });
      t.out(`Revoked key ${kid} in ${trustPath}. Distribute it to the agents; entries it signed are rejected from then on.`);
      return ExitCode.Ok;
    }
    case undefined:
      throw new UsageError("fleet keys: expected a subcommand: generate, list, rotate or revoke (see 'fleet keys --help')");
    default:
      throw new UsageError(`fleet keys: unknown subcommand ${JSON.stringify(sub)}: expected generate, list, rotate or revoke`);
  }
};
