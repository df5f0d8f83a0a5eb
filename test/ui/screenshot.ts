/**
 * Regenerates docs/dashboard.png: the demo fleet on a local backend, with
 * one failure (pi-02), one offline device and a pending plan (the south canary
 * moves to a newer image), pi-03 drilled into.
 *
 *   npx tsx test/ui/screenshot.ts
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO } from "../cli/support.ts";
import { launchBrowser } from "./browser.ts";
import { demoWorkspace, startUi } from "./support.ts";

const main = async (): Promise<void> => {
  const ws = await demoWorkspace();
  const simulate = await ws.fleet(["local", "simulate", "--fail", "pi-02.web=container httpd exited with code 1: bind: address already in use", "--offline", "vm-01", "demo.ts"]);
  if (simulate.code !== 0) throw new Error(simulate.stderr);
  // A rollout in progress: the south canary moves to a newer image, not applied yet.
  const demo = join(ws.dir, "demo.ts");
  await writeFile(demo, (await readFile(demo, "utf8")).replace('web("2.4.63")', 'web("2.4.64")'));
  const ui = await startUi(ws.dir, ["--no-typecheck", "demo.ts"]);
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.goto(ui.url);
    await page.waitForSelector("[data-device-row]");
    await page.click('button[data-device="pi-03"]');
    await page.waitForSelector("[data-assignment]");
    await page.screenshot({ path: join(REPO, "docs", "dashboard.png"), fullPage: true });
  } finally {
    await browser.close();
    await ui.stop();
    await ws.cleanup();
  }
};

await main();
