/**
 * The local backend's content-addressed spec store: `specs/sha256-<hex>.json`
 * in the state directory holds the spec whose hash is `sha256:<hex>`, once,
 * however many desired entries refer to it (a million devices running 20
 * specs store 20 files, where version 1 stored three million inline copies).
 *
 * Contract:
 * - a spec file is written whole under a temporary name, fsynced and renamed
 *   into place, before any state that refers to it; files are never changed
 *   afterwards (same name, same content), so a state and its backup can share
 *   them and a crash leaves at worst an unreferenced file;
 * - a spec is trusted only if its file decodes as a deployment and hashes to
 *   the hash it is stored under; otherwise it is a problem naming the file,
 *   and the entries that refer to it carry their hash without a spec;
 * - each hash is read, decoded and verified at most once per store (a
 *   process), however many entries and reads refer to it.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { writeFileAtomic } from "./AtomicFile.ts";
import { join } from "node:path";
import { DeploymentCodec, specHash, type Deployment } from "../../algebra/Deployment.ts";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import type { ReadProblem } from "../Interpreter.ts";

export const SPECS_DIR = "specs";

const HASH = /^sha256:([0-9a-f]{64})$/;

/** The file name of a hash, or `undefined` for a hash that cannot name a file (never written, never read). */
export const specFileName = (hash: string): string | undefined => {
  const m = HASH.exec(hash);
  return m === null ? undefined : `sha256-${m[1] as string}.json`;
};

/** `fileExists`: an untrusted spec whose file is there (edited, or not a spec) rather than missing. */
type Verdict = { readonly _tag: "Trusted"; readonly spec: Deployment } | { readonly _tag: "Untrusted"; readonly problem: ReadProblem; readonly fileExists: boolean };

export interface SpecStore {
  readonly dir: string;
  /** The trusted spec stored under `hash`; a missing or untrusted one adds a problem to `problems` (once per read). */
  readonly lookup: (hash: string, problems: ReadProblem[]) => Deployment | "untrusted" | undefined;
  /** Makes sure every spec in `specs` is stored (writes the ones whose file is missing or untrusted). */
  readonly store: (specs: ReadonlyMap<string, Deployment>) => Promise<void>;
}

export const specStore = (stateDir: string): SpecStore => {
  const dir = join(stateDir, SPECS_DIR);
  const verdicts = new Map<string, Verdict>();

  const verify = (hash: string): Verdict => {
    const name = specFileName(hash);
    const source = join(dir, name ?? "");
    const untrusted = (message: string, fileExists = true): Verdict => ({ _tag: "Untrusted", problem: { source, key: hash, message }, fileExists });
    if (name === undefined) return untrusted(`${JSON.stringify(hash)} is not a sha256 spec hash; entries with it carry no spec`, false);
    let text: string;
    try {
      // Synchronous: a handful of small files, read while lines are decoded.
      text = readFileSync(source, "utf8");
    } catch (e) {
      return untrusted(`the spec is missing from the spec store (${errorMessage(e)})`, false);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return untrusted(`the spec file is not JSON (${errorMessage(e)}); not trusted`);
    }
    const d = DeploymentCodec.decode(json);
    if (d._tag === "Left") return untrusted(`the spec file is not a deployment (${formatValidationErrors(d.left)}); not trusted`);
    const actual = specHash(d.right);
    if (actual !== hash) return untrusted(`the spec file's content hashes to ${actual}, not to its name; not trusted`);
    return { _tag: "Trusted", spec: d.right };
  };

  const verdict = (hash: string): Verdict => {
    let v = verdicts.get(hash);
    if (v === undefined) verdicts.set(hash, (v = verify(hash)));
    return v;
  };

  return {
    dir,
    lookup: (hash, problems) => {
      const v = verdict(hash);
      if (v._tag === "Trusted") return v.spec;
      problems.push(v.problem);
      return v.fileExists ? "untrusted" : undefined;
    },
    store: async (specs) => {
      let made = false;
      for (const [hash, spec] of specs) {
        const name = specFileName(hash);
        if (name === undefined) continue;
        // A spec this process wrote or verified is on disk already (files never change).
        if (verdicts.get(hash)?._tag === "Trusted") continue;
        if (verify(hash)._tag === "Trusted") {
          verdicts.set(hash, { _tag: "Trusted", spec });
          continue;
        }
        if (specHash(spec) !== hash) throw new Error(`refusing to store a spec under ${hash}: it hashes to ${specHash(spec)}`);
        if (!made) await mkdir(dir, { recursive: true });
        made = true;
        await writeFileAtomic(join(dir, name), join(dir, `.${name}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`), `${JSON.stringify(DeploymentCodec.encode(spec))}\n`);
        verdicts.set(hash, { _tag: "Trusted", spec });
      }
      if (made) await syncDir(dir);
    },
  };
};

/** fsyncs a directory so that renames in it survive a power cut. */
export const syncDir = async (dir: string): Promise<void> => {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await d.close();
  }
};
