/**
 * `fleet credentials init|issue|token|serve`: NATS operator-mode credentials,
 * one per device (docs/security.md). `init` creates the operator, system and
 * fleet accounts, the enrollment key and the server configuration fragment;
 * `issue` mints a creds file for one device (its permissions a pure function
 * of its id) or for the control plane; `token` makes a single-use, expiring
 * enrollment bundle for one device, which `fleet enroll` on the device
 * exchanges with `serve` (the enrollment service) for the device's own creds.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { deviceInboxPrefix, initOperator, issueControlPlaneCreds, issueDeviceCreds, serverConfigFragment, type OperatorSetup } from "../../interpreters/nats/Credentials.ts";
import { expectPositionals, orUsage, parseDeviceArg, parseFlags, parseWindow, wantsHelp } from "../Args.ts";
import { CliError, UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { writeSecretFile } from "../SecretFile.ts";
import { terminal } from "../Terminal.ts";
import { decodeSigningKey, encodeSigningKey, formatKeyFileError, generateSigningKey, type SigningKey } from "../../trust/Keys.ts";
import { encodeBundle, ENROLL_SUBJECT, issueEnrollmentBundle } from "../../interpreters/nats/Enrollment.ts";
import { natsFlags, type NatsFlagValues } from "../backends.ts";
import { logLine, natsReplicas, natsSettings, untilSignal } from "./agent.ts";

export const help = `Usage: fleet credentials <init|issue|token|serve> [flags]

Per-device NATS credentials (operator mode with JWTs; nats-server 2.9+).

  fleet credentials init --dir DIR [--name NAME]
      Creates DIR (mode 700) with operator.json (the operator, system and
      fleet account keys and JWTs) and enrollment-key.json (signs enrollment
      tokens), both secret, mode 600, and server.conf, the fragment to
      include in nats-server's configuration (operator, system account,
      preloaded accounts).
  fleet credentials issue --dir DIR --device-id ID [--out FILE] [--expires DUR]
      A creds file for one device: it may read and follow its own desired
      entries and write its own info, heartbeat and state; nothing else.
      The agent must use the inbox prefix _INBOX_<ID> (fleet agent does).
  fleet credentials issue --dir DIR --control-plane [--out FILE] [--expires DUR]
      A creds file for the control plane (everything in the fleet account).
  fleet credentials token --dir DIR --device-id ID [--ttl DUR] [--out FILE|-]
      An enrollment bundle for one device (secret, mode 600; default
      DIR/<ID>.enroll): a token signed with DIR/enrollment-key.json, valid
      once and until DUR from now (default 1h), and creds that may only
      present it. On the device: fleet enroll --token FILE --nats URL.
  fleet credentials serve --dir DIR --nats URL [--nats-creds FILE]
      The enrollment service: answers fleet enroll on the subject
      fleet.enroll until SIGTERM or SIGINT; a token is redeemed once
      (recorded in the bucket fleet-enrollments). Connects with
      DIR/control-plane.creds unless --nats-creds says otherwise.

Flags:
  --dir DIR          where init writes and the others read operator.json and enrollment-key.json
  --name NAME        init: the operator's name (default fleet)
  --device-id ID     issue, token: the device
  --control-plane    issue: the control plane's creds instead
  --out FILE         issue: the creds file (default DIR/<ID>.creds or DIR/control-plane.creds);
                     token: the bundle (default DIR/<ID>.enroll; - for stdout)
  --expires DUR      issue: the creds stop working after DUR (e.g. 90d; default never)
  --ttl DUR          token: how long the token may be redeemed (e.g. 30m, 1h, 7d; at most 30d)
  --nats URL[,URL]   serve: the NATS servers (env FLEET_NATS_URL); also --nats-creds,
                     --nats-tls-ca, --nats-tls-cert, --nats-tls-key
  -h, --help         show this help

Exit codes: 0 success, 1 error.`;

const IdentityV1 = t.type({ publicKey: t.string, seed: t.string, jwt: t.string });
const OperatorFileV1 = t.type({ v: t.literal(1), operator: IdentityV1, system: IdentityV1, account: IdentityV1, accountSigningSeed: t.string });

const readOperator = async (dir: string): Promise<OperatorSetup> => {
  const path = join(dir, "operator.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new CliError(`${path} does not exist (run 'fleet credentials init --dir ${dir}' first)`);
    throw new CliError(`${path} cannot be read: ${errorMessage(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path}: not JSON (${errorMessage(e)})`);
  }
  const decoded = OperatorFileV1.decode(json);
  if (E.isLeft(decoded)) throw new CliError(`${path}: not an operator file: ${formatValidationErrors(decoded.left)}`);
  return decoded.right;
};

const MAX_EXPIRY_DAYS = 3650;
const MAX_TOKEN_DAYS = 30;
const DEFAULT_TOKEN_TTL_MS = 3_600_000;

const ENROLLMENT_KEY_FILE = "enrollment-key.json";

/** The key enrollment tokens are signed with; `create` makes it when missing (a directory from before enrollment). */
const enrollmentKey = async (dir: string, now: Date, create: boolean): Promise<{ readonly key: SigningKey; readonly created: boolean }> => {
  const path = join(dir, ENROLLMENT_KEY_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError(`${path} cannot be read: ${errorMessage(e)}`);
    if (!create) throw new CliError(`${path} does not exist (fleet credentials token creates it with the first token)`);
    const key = generateSigningKey(now);
    await writeSecretFile(path, encodeSigningKey(key));
    return { key, created: true };
  }
  const key = decodeSigningKey(text);
  if (E.isLeft(key)) throw new CliError(`${path}: not an enrollment key: ${formatKeyFileError(key.left)}`);
  return { key: key.right, created: false };
};

const serve = async (dir: string, values: NatsFlagValues, term: ReturnType<typeof terminal>): Promise<number> => {
  const settings = natsSettings("credentials", { ...values, "nats-creds": values["nats-creds"] ?? join(dir, "control-plane.creds") }, process.env, "fleet-enrollment");
  const setup = await readOperator(dir);
  const { key } = await enrollmentKey(dir, new Date(), false);
  const { connectJetStream } = await import("../../interpreters/nats/Connection.ts");
  const { startEnrollmentService } = await import("../../interpreters/nats/EnrollmentService.ts");
  const signals = untilSignal();
  try {
    const { nc, js } = await connectJetStream(settings);
    try {
      const replicas = natsReplicas("credentials", values);
      const service = await startEnrollmentService(nc, js, {
        intent: { _tag: "EnrollmentIntent", setup, enrollmentKey: key },
        log: logLine,
        ...(replicas !== undefined ? { replicas } : {}),
      });
      term.err(`enrollment service: answering on ${ENROLL_SUBJECT} for account ${setup.account.publicKey} (key ${key.kid}); stop with SIGTERM or SIGINT`);
      const signal = await signals.signalled;
      logLine(`enrollment service: ${signal}; stopping`);
      await service.stop();
      return ExitCode.Ok;
    } finally {
      await nc.close().catch(() => undefined);
    }
  } finally {
    signals.dispose();
  }
};

export const run = async (argv: ReadonlyArray<string>, now: Date = new Date()): Promise<number> => {
  const term = terminal();
  if (wantsHelp(argv)) {
    term.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("credentials", argv, {
    help: { type: "boolean", short: "h" },
    dir: { type: "string" },
    name: { type: "string" },
    "device-id": { type: "string" },
    "control-plane": { type: "boolean" },
    out: { type: "string" },
    expires: { type: "string" },
    ttl: { type: "string" },
    ...natsFlags,
  });
  const [sub, ...args] = positionals;
  const dir = values.dir;
  if (sub !== undefined && (dir === undefined || dir === "")) throw new UsageError(`fleet credentials ${sub}: --dir DIR is required (see 'fleet credentials --help')`);
  switch (sub) {
    case "init": {
      expectPositionals("credentials init", args, 0, 0, "no arguments (fleet credentials init --dir DIR)");
      const setup = await initOperator(values.name ?? "fleet");
      // Secrets only: a new directory is the owner's alone.
      await mkdir(dir as string, { recursive: true, mode: 0o700 });
      await writeSecretFile(join(dir as string, "operator.json"), `${JSON.stringify(OperatorFileV1.encode({ v: 1, ...setup }), null, 2)}\n`);
      await writeSecretFile(join(dir as string, "server.conf"), serverConfigFragment(setup), { mode: 0o644 });
      await enrollmentKey(dir as string, now, true);
      term.out(`Created ${join(dir as string, "operator.json")} and ${join(dir as string, ENROLLMENT_KEY_FILE)} (secret, mode 600) and ${join(dir as string, "server.conf")}.`);
      term.out(`Include server.conf in nats-server's configuration, then issue creds: fleet credentials issue --dir ${dir as string} --control-plane`);
      return ExitCode.Ok;
    }
    case "issue": {
      expectPositionals("credentials issue", args, 0, 0, "no arguments (fleet credentials issue --dir DIR --device-id ID)");
      const forControlPlane = values["control-plane"] === true;
      if (forControlPlane === (values["device-id"] !== undefined))
        throw new UsageError("fleet credentials issue: pass exactly one of --device-id ID and --control-plane (see 'fleet credentials --help')");
      const expiresAt = values.expires === undefined ? undefined : new Date(now.getTime() + orUsage("credentials", parseWindow("--expires", values.expires, MAX_EXPIRY_DAYS)));
      const options = expiresAt === undefined ? {} : { expiresAt };
      const setup = await readOperator(dir as string);
      if (forControlPlane) {
        const out = values.out ?? join(dir as string, "control-plane.creds");
        await writeSecretFile(out, await issueControlPlaneCreds(setup, options));
        term.out(`Wrote control-plane creds to ${out} (mode 600).`);
        return ExitCode.Ok;
      }
      const id = orUsage("credentials", parseDeviceArg("--device-id", values["device-id"] as string));
      const out = values.out ?? join(dir as string, `${id}.creds`);
      await writeSecretFile(out, await issueDeviceCreds(setup, id, options));
      term.out(`Wrote creds for device ${id} to ${out} (mode 600); its agent uses the inbox prefix ${deviceInboxPrefix(id)}.`);
      return ExitCode.Ok;
    }
    case "token": {
      expectPositionals("credentials token", args, 0, 0, "no arguments (fleet credentials token --dir DIR --device-id ID)");
      if (values["device-id"] === undefined) throw new UsageError("fleet credentials token: --device-id ID is required (see 'fleet credentials --help')");
      const id = orUsage("credentials", parseDeviceArg("--device-id", values["device-id"]));
      const ttlMs = values.ttl === undefined ? DEFAULT_TOKEN_TTL_MS : orUsage("credentials", parseWindow("--ttl", values.ttl, MAX_TOKEN_DAYS));
      if (ttlMs < 1000) throw new UsageError("fleet credentials token: --ttl: at least 1s");
      const setup = await readOperator(dir as string);
      const key = await enrollmentKey(dir as string, now, true);
      const { bundle, claims } = await issueEnrollmentBundle({ _tag: "EnrollmentIntent", setup, enrollmentKey: key.key }, id, { now, ttlMs });
      const text = encodeBundle(bundle);
      if (key.created) term.err(`Created the enrollment key ${join(dir as string, ENROLLMENT_KEY_FILE)} (secret, mode 600).`);
      if (values.out === "-") {
        term.out(text.trimEnd());
        return ExitCode.Ok;
      }
      const out = values.out ?? join(dir as string, `${id}.enroll`);
      await writeSecretFile(out, text);
      term.out(`Wrote an enrollment token for device ${id} to ${out} (mode 600; valid once, until ${claims.expiresAt.toISOString()}).`);
      term.out(`On the device: fleet enroll --token ${out} --nats URL --creds-out /etc/fleet/${id}.creds`);
      return ExitCode.Ok;
    }
    case "serve":
      expectPositionals("credentials serve", args, 0, 0, "no arguments (fleet credentials serve --dir DIR --nats URL)");
      return serve(dir as string, values, term);
    case undefined:
      throw new UsageError("fleet credentials: expected a subcommand: init, issue, token or serve (see 'fleet credentials --help')");
    default:
      throw new UsageError(`fleet credentials: unknown subcommand ${JSON.stringify(sub)}: expected init, issue, token or serve`);
  }
};
