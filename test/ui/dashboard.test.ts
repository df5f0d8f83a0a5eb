/**
 * `fleet ui` in a real browser (Debian's chromium, headless, via
 * playwright-core): the demo fleet on a local backend, served with a token.
 * The page loads, the selector filter narrows the table, a bad selector shows
 * the error with a caret (and the page stays), the drill-down shows the
 * verdicts, and an agent's report appears without a reload. Plus the HTTP
 * edge: read-only, token, loopback Host, security headers; SIGTERM stops it.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import type { Workspace } from "../cli/support.ts";
import { launchBrowser, type Browser } from "./browser.ts";
import { demoWorkspace, startUi, type Ui } from "./support.ts";

const TOKEN = "test-token-9f3a";

let ws: Workspace;
let ui: Ui;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const origin = (): string => new URL(ui.url).origin;
const rowIds = (): Promise<string[]> => page.locator("[data-device-row]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-device-row") ?? ""));
const filter = async (selector: string): Promise<void> => {
  await page.fill("#selector", selector);
  await page.click("#filter button[type=submit]");
};

beforeAll(async () => {
  ws = await demoWorkspace();
  ui = await startUi(ws.dir, ["--no-typecheck", "--interval", "300ms", "--token", TOKEN, "demo.ts"]);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    // The bad-selector test earns its 400 on purpose; any other error counts.
    const expected = m.text().includes("status of 400") && m.location().url.includes("/api/devices?selector=");
    if (m.type() === "error" && !expected) pageErrors.push(`${m.text()} (${m.location().url})`);
  });
  await page.goto(ui.url);
  await page.waitForSelector("[data-device-row]");
});

afterAll(async () => {
  await browser?.close();
  if (ui !== undefined) await ui.stop();
  await ws?.cleanup();
});

describe("fleet ui in chromium", () => {
  it("loads the demo fleet: bars per deployment, the failure, every device", async () => {
    expect(await rowIds()).toEqual(["nuc-01", "pi-01", "pi-02", "pi-03", "vm-01"]);
    const web = page.locator('[data-deployment="web"]');
    await expect.poll(() => web.locator(".bar").getAttribute("aria-label")).toBe("web: 4 matched, 3 succeeded, 1 failed, 0 pending, 0 offline");
    expect(await page.locator('[data-deployment="metrics"] .bar').getAttribute("aria-label")).toBe("metrics: 5 matched, 4 succeeded, 0 failed, 0 pending, 1 offline");
    expect(await page.locator("#errors").innerText()).toContain("image pull failed: manifest unknown");
    expect(await page.locator("#plan-summary").innerText()).toContain("No changes");
    // The token moved into a cookie and out of the address bar.
    expect(page.url()).not.toContain(TOKEN);
  });

  it("filtering by a selector narrows the table", async () => {
    await filter("site=north");
    await expect.poll(rowIds).toEqual(["pi-01", "pi-02"]);
    expect(await page.locator("#devices-count").innerText()).toBe("2 of 5 devices match");
    await filter("@arch=x86_64 or site=south");
    await expect.poll(rowIds).toEqual(["nuc-01", "pi-03", "vm-01"]);
  });

  it("a bad selector shows the error with a caret under its column, and keeps the page", async () => {
    await filter("env in (prod");
    const box = page.locator("#selector-error");
    await box.waitFor({ state: "visible" });
    expect(await box.innerText()).toContain("at column 13");
    expect(await page.locator("#selector-error pre").innerText()).toBe(`env in (prod\n${" ".repeat(12)}^`);
    expect(await page.locator("#selector").getAttribute("aria-invalid")).toBe("true");
    expect(await rowIds()).toEqual(["nuc-01", "pi-03", "vm-01"]); // the last good table stays
    await filter("");
    await box.waitFor({ state: "hidden" });
    await expect.poll(rowIds).toEqual(["nuc-01", "pi-01", "pi-02", "pi-03", "vm-01"]);
  });

  it("the drill-down shows each assignment's verdicts, shadowing, and desired vs observed", async () => {
    await page.click('button[data-device="pi-03"]');
    const canary = page.locator('[data-assignment="south-canary"]');
    await canary.waitFor();
    expect(await page.locator("#drilldown-title").innerText()).toBe("Device pi-03");
    expect(await canary.innerText()).toContain("matches");
    expect(await canary.innerText()).toMatch(/✓[\s\S]*site=south \(site is "south"\)/);
    const lab = await page.locator('[data-assignment="lab-metrics"]').innerText();
    expect(lab).toContain("no match");
    expect(lab).toContain("2 of 2 clauses fail");
    expect(await page.locator('[data-assignment="prod-web"]').innerText()).toContain("shadowed by south-canary");
    expect(await page.locator("#drilldown-body table.compare").innerText()).toMatch(/web[\s\S]*Failed[\s\S]*image pull failed/);
  });

  it("a report written by an agent appears without a reload", async () => {
    await page.evaluate(() => ((globalThis as unknown as { fleetTestMarker: number }).fleetTestMarker = 42));
    const before = Number(await page.locator("body").getAttribute("data-version"));
    // One simulated round of every agent: pi-03 now reports web Running, vm-01 comes online.
    const r = await ws.fleet(["local", "simulate", "demo.ts"]);
    expect(r.code, r.stderr).toBe(0);
    await expect
      .poll(() => page.locator('[data-deployment="web"] .bar').getAttribute("aria-label"), { timeout: 15_000 })
      .toBe("web: 4 matched, 4 succeeded, 0 failed, 0 pending, 0 offline");
    expect(await page.locator('[data-deployment="metrics"] .bar').getAttribute("aria-label")).toBe("metrics: 5 matched, 5 succeeded, 0 failed, 0 pending, 0 offline");
    expect(await page.locator("#errors").innerText()).toContain("No failures reported.");
    // The open drill-down followed too.
    await expect.poll(() => page.locator("#drilldown-body table.compare").innerText()).not.toContain("Failed");
    expect(Number(await page.locator("body").getAttribute("data-version"))).toBeGreaterThan(before);
    expect(await page.evaluate(() => (globalThis as unknown as { fleetTestMarker?: number }).fleetTestMarker)).toBe(42);
  });

  it("shows an agent's error text as text: markup in it is never parsed", async () => {
    const evil = '<img src=x onerror="window.fleetPwned=1"><b>bold</b>';
    const r = await ws.fleet(["local", "simulate", "--fail", `pi-01.web=${evil}`, "demo.ts"]);
    expect(r.code, r.stderr).toBe(0);
    const errors = page.locator("#errors");
    await expect.poll(() => errors.innerText(), { timeout: 15_000 }).toContain(evil);
    expect(await errors.locator("img, b").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { fleetPwned?: number }).fleetPwned)).toBeUndefined();
  });

  it("a backend that cannot be read shows a banner over the last good data, and the next good read clears it", async () => {
    const state = join(ws.dir, ".fleet", "state.records");
    const good = await readFile(state, "utf8");
    await writeFile(state, "{ not json");
    try {
      const banner = page.locator("#read-error");
      await banner.waitFor({ state: "visible", timeout: 15_000 });
      expect(await banner.innerText()).toMatch(/^Cannot read the backend: .*state\.records.*Showing the last good data\.$/s);
      expect(await rowIds()).toEqual(["nuc-01", "pi-01", "pi-02", "pi-03", "vm-01"]);
    } finally {
      await writeFile(state, good);
    }
    await page.locator("#read-error").waitFor({ state: "hidden", timeout: 15_000 });
  });

  it("logged no script error and no blocked resource (CSP)", () => {
    expect(pageErrors).toEqual([]);
  });
});

describe("fleet ui over HTTP", () => {
  it("refuses a request without the token, and anything but GET", async () => {
    expect((await fetch(`${origin()}/api/status`)).status).toBe(401);
    expect((await fetch(`${origin()}/api/status`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${origin()}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${origin()}/api/status?token=${TOKEN}`, { method: "POST" })).status).toBe(405);
  });

  it("answers only to a loopback Host header (no DNS rebinding)", async () => {
    const { request } = await import("node:http");
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(`${origin()}/api/status?token=${TOKEN}`, { headers: { host: "attacker.example" } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it("sends a strict content security policy and no-store on every response", async () => {
    const res = await fetch(ui.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("set-cookie")).toContain("HttpOnly");
  });

  it("stops cleanly on SIGTERM", async () => {
    const second = await startUi(ws.dir, ["--no-typecheck", "demo.ts"]);
    expect((await fetch(`${new URL(second.url).origin}/api/plan`)).status).toBe(200);
    const r = await second.stop();
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("Stopped (SIGTERM).");
  });
});
