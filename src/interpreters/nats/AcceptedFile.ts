/**
 * The file where an agent that verifies signatures keeps, per key, the
 * highest signed revision it accepted and the spec it accepted last
 * (`<state-dir>/<device>.accepted.json`): what makes the replay of an old,
 * validly signed entry fail after a restart too.
 *
 * A missing file is a first start (nothing accepted yet). A file that exists
 * but cannot be read or decoded is not evidence of anything: the agent
 * refuses to start, with one line naming the file, rather than forget what
 * it accepted. Writes go to a temporary file renamed over the old one, so a
 * crash leaves the old file or the new one, never half of either.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { DeploymentCodec, specHash } from "../../algebra/Deployment.ts";
import { decodeProblems, formatProblem } from "../../algebra/DecodeError.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { isDnsLabel, OrdDeploymentName, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import * as RM from "fp-ts/lib/ReadonlyMap.js";
import type { AcceptedEntry } from "../../agent/Accept.ts";

/** The file exists but cannot be trusted: the agent does not start. */
export class AcceptedFileError extends Error {
  override readonly name: string = "AcceptedFileError";
}

const AcceptedFileV1 = t.type({
  v: t.literal(1),
  device: t.string,
  keys: t.record(t.string, t.intersection([t.type({ revision: t.number }), t.partial({ spec: DeploymentCodec })])),
});

export const acceptedFilePath = (stateDir: string, device: DeviceId): string => join(stateDir, `${device}.accepted.json`);

/** What a previous run accepted; throws one line naming the file when it exists but cannot be trusted. */
export const readAcceptedFile = (path: string, device: DeviceId): ReadonlyMap<DeploymentName, AcceptedEntry> => {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw new AcceptedFileError(`accepted-revisions file ${path} cannot be read (${errorMessage(e)}); refusing to start without it (replays could not be recognised)`);
  }
  const bad = (why: string): Error =>
    new AcceptedFileError(`accepted-revisions file ${path} is damaged (${why}); refusing to start (replays could not be recognised); restore it, or delete it to trust every currently valid entry again`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON: ${errorMessage(e)}`);
  }
  const r = AcceptedFileV1.decode(json);
  if (E.isLeft(r)) throw bad(decodeProblems(r.left).map(formatProblem).join("; "));
  if (r.right.device !== device) throw bad(`it belongs to device ${JSON.stringify(r.right.device)}`);
  const out = new Map<DeploymentName, AcceptedEntry>();
  for (const [name, e] of Object.entries(r.right.keys)) {
    if (!isDnsLabel(name)) throw bad(`${JSON.stringify(name)} is not a deployment name`);
    out.set(name as DeploymentName, e.spec === undefined ? { revision: e.revision } : { revision: e.revision, spec: e.spec, specHash: specHash(e.spec) });
  }
  return out;
};

const sortedNames = RM.keys(OrdDeploymentName);

/** Replaces the file atomically (temporary file, then rename); throws on failure, leaving no temporary file. */
export const writeAcceptedFile = (path: string, device: DeviceId, accepted: ReadonlyMap<DeploymentName, AcceptedEntry>): void => {
  const keys: Record<string, unknown> = {};
  for (const name of sortedNames(accepted)) {
    const e = accepted.get(name) as AcceptedEntry;
    keys[name] = e.spec === undefined ? { revision: e.revision } : { revision: e.revision, spec: DeploymentCodec.encode(e.spec) };
  }
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, JSON.stringify({ v: 1, device, keys }), { mode: 0o600 });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
};
