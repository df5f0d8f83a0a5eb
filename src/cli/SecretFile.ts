/**
 * Files that hold secrets (signing keys, NATS seeds, plans with env values):
 * written atomically (a temporary file in the same directory, fsynced, then
 * renamed), readable by the owner only from the first byte, never left
 * behind as a temporary file when the write fails, and never overwriting an
 * existing file unless asked.
 */
import { randomUUID } from "node:crypto";
import { open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CliError } from "./CliError.ts";

export interface WriteSecretOptions {
  /** Replace an existing file. Default false: refuse. */
  readonly overwrite?: boolean;
  /** File mode. Default 0600. */
  readonly mode?: number;
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

export const writeSecretFile = async (path: string, text: string, options: WriteSecretOptions = {}): Promise<void> => {
  if (options.overwrite !== true && (await exists(path))) throw new CliError(`${path} already exists (refusing to overwrite it)`);
  const tmp = join(dirname(path), `.${basename(path)}.${randomUUID().slice(0, 8)}.tmp`);
  let fh;
  try {
    fh = await open(tmp, "wx", options.mode ?? 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EROFS" || code === "EPERM") throw new CliError(`cannot write ${path}: the directory ${dirname(path)} is not writable`);
    if (code === "ENOENT") throw new CliError(`cannot write ${path}: the directory ${dirname(path)} does not exist`);
    throw e;
  }
  try {
    await fh.writeFile(text, "utf8");
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR") throw new CliError(`cannot write ${path}: it is a directory`);
    throw e;
  }
};
