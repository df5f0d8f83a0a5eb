/**
 * Per-device least-privilege credentials for NATS in operator mode (JWTs).
 *
 * nats-server 2.9 checks JWT user permissions on every publish and
 * subscription; it has no auth callout, so each device gets its own user JWT
 * (a creds file), minted here with an account signing key:
 *
 * - an operator (self-signed), a system account, and one fleet account with
 *   JetStream enabled; the server loads them from a config fragment
 *   (`resolver: MEMORY` with the account JWTs preloaded);
 * - the control plane: a user allowed everything inside the fleet account;
 * - a device: a user whose permissions are a pure function of its id
 *   (`devicePermissions`): it may read and follow its own desired entries
 *   (core subscription to their subjects, scoped direct gets, and a snapshot
 *   consumer whose filter the server checks in the API subject), write its
 *   own info, heartbeat and state, and receive replies on its own inbox
 *   prefix `_INBOX_<id>`; nothing else (no other device's keys, no writes to
 *   desired state, no stream or consumer management beyond its own
 *   snapshot).
 *
 * Law (test/laws/credentials.test.ts): no two devices' subject sets overlap:
 * for distinct ids, no subject matched by one device's allow list is matched
 * by the other's.
 */
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { createAccount, createOperator, createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";
import type { DeviceId } from "../../algebra/Name.ts";
import { BUCKET, streamOf, subjectPrefixOf } from "./Buckets.ts";
import { deviceInboxPrefix } from "./Connection.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface SubjectPermissions {
  readonly pub: ReadonlyArray<string>;
  readonly sub: ReadonlyArray<string>;
}

/** An nkey identity and the JWT that describes it. */
export interface Identity {
  readonly publicKey: string;
  readonly seed: string;
  readonly jwt: string;
}

/** What `fleet credentials init` creates; the seeds are secrets (files mode 0600). */
export interface OperatorSetup {
  readonly operator: Identity;
  readonly system: Identity;
  readonly account: Identity;
  /** The account's signing key: it mints user credentials; the account's own seed can stay offline. */
  readonly accountSigningSeed: string;
}

// -------------------------------------------------------------------------------------
// permissions
// -------------------------------------------------------------------------------------

/** The inbox prefix a device must use for replies, so that no device can read another's. */
export { deviceInboxPrefix };

/** Everything a device may publish and subscribe to; a pure function of its id. */
export const devicePermissions = (id: DeviceId): SubjectPermissions => {
  const desired = subjectPrefixOf(BUCKET.desired);
  const desiredStream = streamOf(BUCKET.desired);
  return {
    pub: [
      `${subjectPrefixOf(BUCKET.info)}${id}`,
      `${subjectPrefixOf(BUCKET.heartbeat)}${id}`,
      `${subjectPrefixOf(BUCKET.state)}${id}.>`,
      // Scoped direct get: the key is in the API subject, so the server checks it.
      `$JS.API.DIRECT.GET.${desiredStream}.${desired}${id}.>`,
      // The snapshot consumer: the filter is in the API subject (server 2.9's extended create). Its
      // delete is not allowed (it would name any consumer of the stream): the server drops it when idle.
      // Nor are flow-control replies (shared by every consumer of the stream): a snapshot of one
      // device's few keys never fills a flow-control window.
      `$JS.API.CONSUMER.CREATE.${desiredStream}.*.${desired}${id}.>`,
      // At start the agent reads what a previous run reported (its own state keys), the same way.
      `$JS.API.CONSUMER.CREATE.${streamOf(BUCKET.state)}.*.${subjectPrefixOf(BUCKET.state)}${id}.>`,
    ],
    // Its own heartbeat key too: a second agent started with the same id is heard there.
    sub: [`${desired}${id}.>`, `${subjectPrefixOf(BUCKET.heartbeat)}${id}`, `${deviceInboxPrefix(id)}.>`],
  };
};

// -------------------------------------------------------------------------------------
// minting
// -------------------------------------------------------------------------------------

const text = (u: Uint8Array): string => new TextDecoder().decode(u);

const identity = async (kp: KeyPair, jwt: string): Promise<Identity> => ({ publicKey: kp.getPublicKey(), seed: text(kp.getSeed()), jwt });

/** A new operator, system account and fleet account (JetStream enabled, no limits). */
export const initOperator = async (name: string): Promise<OperatorSetup> => {
  const op = createOperator();
  const sys = createAccount();
  const acct = createAccount();
  const signing = createAccount();
  const operatorJwt = await encodeOperator(name, op, { system_account: sys.getPublicKey() });
  const systemJwt = await encodeAccount("SYS", sys, {}, { signer: op });
  const accountJwt = await encodeAccount(
    "fleet",
    acct,
    {
      signing_keys: [signing.getPublicKey()],
      limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1, subs: -1, data: -1, payload: -1, conn: -1, leaf: -1, imports: -1, exports: -1, wildcards: true },
    },
    { signer: op },
  );
  return {
    operator: await identity(op, operatorJwt),
    system: await identity(sys, systemJwt),
    account: await identity(acct, accountJwt),
    accountSigningSeed: text(signing.getSeed()),
  };
};

/** The nats-server configuration that trusts this operator (include it in the server's config). */
export const serverConfigFragment = (setup: OperatorSetup): string =>
  [
    "# fleet-algebra operator mode (generated by `fleet credentials init`)",
    `operator: ${setup.operator.jwt}`,
    `system_account: ${setup.system.publicKey}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${setup.system.publicKey}: ${setup.system.jwt}`,
    `  ${setup.account.publicKey}: ${setup.account.jwt}`,
    "}",
    "",
  ].join("\n");

export interface IssueOptions {
  /** When the credential stops working. Default: never. */
  readonly expiresAt?: Date;
}

/** A user JWT for `publicKey`, signed with the account's signing key (the key pair's seed is the holder's). */
export const mintUserJwt = async (
  setup: Pick<OperatorSetup, "account" | "accountSigningSeed">,
  name: string,
  publicKey: string,
  permissions: SubjectPermissions | "all",
  options: IssueOptions,
): Promise<string> => {
  const signer = fromSeed(new TextEncoder().encode(setup.accountSigningSeed));
  return encodeUser(
    name,
    publicKey,
    signer,
    {
      issuer_account: setup.account.publicKey,
      ...(permissions === "all" ? {} : { pub: { allow: [...permissions.pub] }, sub: { allow: [...permissions.sub] } }),
    },
    options.expiresAt !== undefined ? { exp: Math.floor(options.expiresAt.getTime() / 1000) } : {},
  );
};

/** A creds file: a new user key pair and its JWT. */
export const issueCreds = async (
  setup: Pick<OperatorSetup, "account" | "accountSigningSeed">,
  name: string,
  permissions: SubjectPermissions | "all",
  options: IssueOptions,
): Promise<string> => {
  const user = createUser();
  return text(fmtCreds(await mintUserJwt(setup, name, user.getPublicKey(), permissions, options), user));
};

/** The user name of a device's credential (the enrollment service checks it in what it minted). */
export const deviceUserName = (id: DeviceId): string => `device-${id}`;

/** A creds file for one device, allowed only what `devicePermissions(id)` says. */
export const issueDeviceCreds = (setup: Pick<OperatorSetup, "account" | "accountSigningSeed">, id: DeviceId, options: IssueOptions = {}): Promise<string> =>
  issueCreds(setup, deviceUserName(id), devicePermissions(id), options);

/** A creds file for the control plane: everything inside the fleet account. */
export const issueControlPlaneCreds = (setup: Pick<OperatorSetup, "account" | "accountSigningSeed">, options: IssueOptions = {}): Promise<string> =>
  issueCreds(setup, "control-plane", "all", options);
