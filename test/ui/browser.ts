/**
 * Test harness: Debian's `chromium` (installed by scripts/ci/40-chromium.sh),
 * driven headless by playwright-core, which never downloads a browser. Each
 * browser gets a fresh profile in a temporary directory, removed on close.
 * A missing chromium FAILS with a message naming the set-up step: a browser
 * test that silently skips proves nothing.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env["FLEET_CHROMIUM"] ?? "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export const launchBrowser = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM}: run scripts/ci/40-chromium.sh (apt-get install -y chromium), or set FLEET_CHROMIUM`);
  const profile = await mkdtemp(join(tmpdir(), "fleet-ui-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
      timeout: 60_000,
    });
    return {
      context,
      close: async () => {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
};
