/**
 * The state lock of the local backend, like Terraform's local backend lock:
 * one file in the state directory records who holds it (id, pid, host, user,
 * time, operation).
 *
 * Contract:
 * - acquiring is atomic: the lock file is written complete under a temporary
 *   name and hard-linked into place, which fails if a lock already exists, so
 *   no reader ever sees a half-written lock and two writers never both win;
 * - a held lock is retried until `timeoutMs` has passed (0: one attempt);
 * - a lock is never broken automatically, even when its process looks dead
 *   (the state may be half-way through an apply): `forceUnlock(id)` removes it,
 *   and only when the caller names the id it holds;
 * - releasing removes the lock only if it is still ours;
 * - while held, its release is registered with the process's `ExitReleases`
 *   (when given), so a signal or a crash mid-apply does not leave it behind.
 */
import { randomUUID } from "node:crypto";
import { link, readFile, unlink, writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import * as t from "io-ts";
import { isRight } from "fp-ts/lib/Either.js";
import { formatValidationErrors } from "../../algebra/DecodeError.ts";
import { noExitReleases, type ExitReleases } from "../ExitReleases.ts";

export const LOCK_FILE = "state.lock";

export interface LockInfo {
  readonly id: string;
  readonly operation: string;
  readonly who: string;
  readonly pid: number;
  readonly host: string;
  readonly created: string;
  readonly version: string;
}

const LockInfoCodec = t.intersection([
  t.type({ id: t.string }),
  t.partial({ operation: t.string, who: t.string, pid: t.number, host: t.string, created: t.string, version: t.string }),
]);

export type LockState =
  | { readonly _tag: "Free" }
  | { readonly _tag: "Held"; readonly info: LockInfo }
  /** A lock file exists but cannot be read as one: it still blocks, and says so. */
  | { readonly _tag: "Unreadable"; readonly reason: string };

export class LockError extends Error {
  override readonly name = "LockError";
}

const currentUser = (): string => {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? "?"}`;
  }
};

/** Decodes a lock file's text (exported for the decoder fuzz tests). */
export const decodeLock = (text: string): LockState => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { _tag: "Unreadable", reason: `not JSON (${(e as Error).message})` };
  }
  const r = LockInfoCodec.decode(json);
  if (!isRight(r)) return { _tag: "Unreadable", reason: formatValidationErrors(r.left) };
  const v = r.right;
  return {
    _tag: "Held",
    info: {
      id: v.id,
      operation: v.operation ?? "unknown",
      who: v.who ?? "unknown",
      pid: v.pid ?? 0,
      host: v.host ?? "unknown",
      created: v.created ?? "unknown",
      version: v.version ?? "unknown",
    },
  };
};

export const readLock = async (stateDir: string): Promise<LockState> => {
  try {
    return decodeLock(await readFile(join(stateDir, LOCK_FILE), "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { _tag: "Free" };
    throw e;
  }
};

/** One line naming the holder, for messages. */
export const describeLock = (s: LockState): string => {
  switch (s._tag) {
    case "Free":
      return "nobody";
    case "Unreadable":
      return `an unreadable lock file (${s.reason})`;
    case "Held":
      return `${s.info.who}@${s.info.host} (pid ${s.info.pid}, ${s.info.operation}, since ${s.info.created}, lock ID ${s.info.id})`;
  }
};

const tryAcquire = async (stateDir: string, info: LockInfo): Promise<boolean> => {
  const tmp = join(stateDir, `.${LOCK_FILE}.${info.id}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
  } catch (e) {
    // The lock is the first write: name the directory, not the lock's temporary file.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") throw new LockError(`the state directory ${stateDir} is not writable (${code}); nothing was changed`);
    throw e;
  }
  try {
    await link(tmp, join(stateDir, LOCK_FILE));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface AcquireOptions {
  readonly operation: string;
  readonly timeoutMs: number;
  /** Who to record; default `user`. */
  readonly who?: string;
  readonly version?: string;
  /** Called once, when the lock is found held and the timeout lets us wait for it. */
  readonly onWait?: (holder: LockState) => void;
  /** Where the release is registered while the lock is held (signals, crashes). */
  readonly exitReleases?: ExitReleases;
}

export type Acquired =
  | { readonly _tag: "Acquired"; readonly info: LockInfo; readonly release: () => Promise<void> }
  | { readonly _tag: "Busy"; readonly holder: LockState };

export const acquireLock = async (stateDir: string, options: AcquireOptions): Promise<Acquired> => {
  const info: LockInfo = {
    id: randomUUID(),
    operation: options.operation,
    who: options.who ?? currentUser(),
    pid: process.pid,
    host: hostname(),
    created: new Date().toISOString(),
    version: options.version ?? "unknown",
  };
  const deadline = Date.now() + Math.max(0, options.timeoutMs);
  let wait = 50;
  const removeIfOurs = async (): Promise<void> => {
    const now = await readLock(stateDir);
    if (now._tag === "Held" && now.info.id === info.id) await unlink(join(stateDir, LOCK_FILE)).catch(() => undefined);
  };
  for (;;) {
    // Registered before the lock file can exist: a signal between taking the lock and
    // registering it would otherwise leave it behind. It only removes a lock with our id.
    const unregister = (options.exitReleases ?? noExitReleases).add(removeIfOurs);
    let acquired = false;
    try {
      acquired = await tryAcquire(stateDir, info);
    } finally {
      if (!acquired) unregister();
    }
    if (acquired)
      return {
        _tag: "Acquired",
        info,
        release: async () => {
          unregister();
          await removeIfOurs();
        },
      };
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { _tag: "Busy", holder: await readLock(stateDir) };
    if (wait === 50) options.onWait?.(await readLock(stateDir));
    await sleep(Math.min(wait, remaining));
    wait = Math.min(wait * 2, 1000);
  }
};

/**
 * Removes the lock if its id is `id` (what `fleet force-unlock ID` does).
 * An unreadable lock file is removed when `id` is the literal `unreadable`.
 */
export const forceUnlock = async (stateDir: string, id: string): Promise<LockInfo | "unreadable"> => {
  const s = await readLock(stateDir);
  if (s._tag === "Free") throw new LockError(`the state in ${stateDir} is not locked`);
  if (s._tag === "Unreadable") {
    if (id !== "unreadable") throw new LockError(`the lock file ${join(stateDir, LOCK_FILE)} is unreadable (${s.reason}); run \`fleet force-unlock unreadable\` to remove it`);
  } else if (s.info.id !== id) {
    throw new LockError(`lock ID ${JSON.stringify(id)} does not match the lock held by ${describeLock(s)}`);
  }
  await unlink(join(stateDir, LOCK_FILE));
  return s._tag === "Held" ? s.info : "unreadable";
};
