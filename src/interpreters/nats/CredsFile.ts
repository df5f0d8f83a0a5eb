/**
 * A NATS creds file (the user JWT and the user's nkey seed), read for what a
 * person needs to hear when a server refuses it: which user and account it
 * names, and whether it has expired. The JWT's signature is checked against
 * its issuer; the server still decides whether it trusts that issuer.
 */
import { decode as decodeJwt, type ClaimsData, type User } from "@nats-io/jwt";
import * as E from "fp-ts/lib/Either.js";
import { errorMessage } from "../../algebra/ErrorMessage.ts";

const CREDS_JWT = /-----BEGIN NATS USER JWT-----\s*\n\s*([^\s]+)\s*\n\s*-*END NATS USER JWT-*/;

/** The user JWT inside a creds file, decoded, or why not. */
export const credsClaims = (creds: string): E.Either<string, ClaimsData<User>> => {
  const m = CREDS_JWT.exec(creds);
  if (m === null) return E.left("no NATS user JWT in it");
  try {
    return E.right(decodeJwt<User>(m[1] as string));
  } catch (e) {
    return E.left(`its user JWT does not decode (${errorMessage(e)})`);
  }
};

/** The account a creds file's user belongs to. */
export const credsAccount = (c: ClaimsData<User>): string => c.nats.issuer_account ?? c.iss;

/** When the creds stop working, if they do. */
export const credsExpiry = (c: ClaimsData<User>): Date | undefined => (typeof c.exp === "number" && c.exp > 0 ? new Date(c.exp * 1000) : undefined);

/** Why a server may have refused these creds, as far as the file tells. */
export const describeRefusedCreds = (creds: string, now: Date): string => {
  const c = credsClaims(creds);
  if (E.isLeft(c)) return `not a NATS creds file: ${c.left}`;
  const exp = credsExpiry(c.right);
  if (exp !== undefined && now.getTime() >= exp.getTime()) return `they expired at ${exp.toISOString()}`;
  return `user ${c.right.name || c.right.sub} of account ${credsAccount(c.right)}: creds for another server (an operator or account it does not trust), or a revoked user`;
};
