/**
 * Writing a whole file so that a crash at any moment leaves either the old
 * file or the new one: a temporary file beside it (created exclusively,
 * owner-only), written, fsynced, then renamed over the target. The
 * temporary file never outlives a failure. Used by the spec store and for
 * saved plans; the state file (StateFile.ts, with its backup) and the
 * agent's accepted revisions (synchronous) keep their own sequences.
 */
import { open, rename, unlink } from "node:fs/promises";

export const writeFileAtomic = async (path: string, tempPath: string, text: string): Promise<void> => {
  const fh = await open(tempPath, "wx", 0o600);
  try {
    try {
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tempPath, path);
  } catch (e) {
    await unlink(tempPath).catch(() => undefined);
    throw e;
  }
};
