/**
 * The page's files (HTML, CSS, one ES module), shipped in the package under
 * `src/cli/dashboard/assets/` and served from there: no CDN, no network.
 *
 * Found from both layouts: next to this module when it runs from `src/`
 * (tsx), and from the package's `src/` when it runs from `dist/` (tsc does
 * not copy non-TypeScript files; `src` is in the package's "files").
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The files the server serves, by URL path; nothing else under the folder is reachable. */
export const ASSETS: ReadonlyMap<string, { readonly file: string; readonly type: string }> = new Map([
  ["/", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/app.js", { file: "app.js", type: "text/javascript; charset=utf-8" }],
  ["/style.css", { file: "style.css", type: "text/css; charset=utf-8" }],
]);

/** The assets folder for a module at `moduleUrl` in either layout, or undefined when the package lacks it. */
export const assetsDir = (moduleUrl: string): string | undefined => {
  const candidates = [new URL("./assets/", moduleUrl), new URL("../../../src/cli/dashboard/assets/", moduleUrl)].map((u) => fileURLToPath(u));
  return candidates.find((d) => existsSync(join(d, "index.html")));
};

/** Reads every asset once, at start-up: a missing file is an error then, not a 500 later. */
export const loadAssets = async (dir: string): Promise<ReadonlyMap<string, { readonly body: Buffer; readonly type: string }>> =>
  new Map(await Promise.all([...ASSETS].map(async ([path, a]) => [path, { body: await readFile(join(dir, a.file)), type: a.type }] as const)));

export const ownAssetsDir = (): string | undefined => assetsDir(import.meta.url);
