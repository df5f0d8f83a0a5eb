/**
 * Enrollment through the real `fleet` binary against a real operator-mode
 * nats-server: credentials init, the enrollment service (`fleet credentials
 * serve`, a live process), a token, `fleet enroll` on the "device"; and the
 * bad inputs, each one line naming the file and what is wrong: an expired
 * token, a used token, a file that is no token, a creds file that exists,
 * creds for another server.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { sleep, spawnLive, type LiveProcess } from "../support/processes.ts";
import { BIN, workspace, type Result, type Workspace } from "../cli/support.ts";

let ws: Workspace;
let server: NatsServer;
let service: LiveProcess;
let serviceLog = "";
const D = (): string => join(ws.dir, "creds");

/** The one error line of a failed command. */
const oneError = (r: Result): string => {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0] as string;
};

beforeAll(async () => {
  ws = await workspace();
  const init = await ws.fleet(["credentials", "init", "--dir", D()]);
  expect(init.code, init.stderr).toBe(0);
  server = await startNatsServer({ extraArgs: ["-c", join(D(), "server.conf")] });
  const cp = await ws.fleet(["credentials", "issue", "--dir", D(), "--control-plane"]);
  expect(cp.code, cp.stderr).toBe(0);
  service = spawnLive("fleet credentials serve", process.execPath, [BIN, "credentials", "serve", "--dir", D(), "--nats", server.url], { cwd: ws.dir, stdio: ["ignore", "pipe", "pipe"] });
  service.child.stderr?.on("data", (b: Buffer) => (serviceLog += b.toString("utf8")));
  const deadline = Date.now() + 30_000;
  while (!serviceLog.includes("answering on fleet.enroll")) {
    if (service.status() !== undefined || Date.now() > deadline) throw new Error(`fleet credentials serve did not start (${service.status() ?? "timeout"}):\n${serviceLog}`);
    await sleep(50);
  }
}, 120_000);

afterAll(async () => {
  await service?.terminate();
  await server?.stop();
  await ws?.cleanup();
});

describe("fleet credentials token | serve, fleet enroll", () => {
  it("a device enrols once with its token; its creds are mode 600; the token is then spent", async () => {
    const token = await ws.fleet(["credentials", "token", "--dir", D(), "--device-id", "pi-01", "--ttl", "10m"]);
    expect(token.code, token.stderr).toBe(0);
    const file = join(D(), "pi-01.enroll");
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe("600");

    const out = join(ws.dir, "pi-01.creds");
    const r = await ws.fleet(["enroll", "--token", file, "--nats", server.url, "--creds-out", out, "--device-id", "pi-01"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Enrolled device pi-01: its creds are in .*pi-01\.creds \(mode 600; account A[A-Z0-9]+\)\.\nRun its agent: fleet agent --device-id pi-01 .* --scoped\n$/);
    expect(((await stat(out)).mode & 0o777).toString(8)).toBe("600");
    expect(await readFile(out, "utf8")).toMatch(/BEGIN NATS USER JWT[\s\S]*BEGIN USER NKEY SEED/);

    const again = await ws.fleet(["enroll", "--token", file, "--nats", server.url, "--creds-out", join(ws.dir, "again.creds")]);
    expect(oneError(again)).toMatch(new RegExp(`^Error: ${file}: enrollment refused: the token was already used at \\S+; a token enrols one device once`));
    expect(serviceLog).toMatch(/enrolled pi-01 \(token /);
  }, 120_000);

  it("an expired token: one line naming the file, and nothing is written", async () => {
    const token = await ws.fleet(["credentials", "token", "--dir", D(), "--device-id", "pi-02", "--ttl", "1s"]);
    expect(token.code, token.stderr).toBe(0);
    await sleep(1100);
    const file = join(D(), "pi-02.enroll");
    const out = join(ws.dir, "pi-02.creds");
    const r = await ws.fleet(["enroll", "--token", file, "--nats", server.url, "--creds-out", out]);
    expect(oneError(r)).toMatch(new RegExp(`^Error: ${file}: the enrollment token expired at \\S+ \\(issue a new one: fleet credentials token\\)$`));
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  }, 60_000);

  it("a file that is no token, a token for another device, an existing creds file: one line each, the token unspent", async () => {
    const junk = await ws.write("junk.enroll", "hello");
    expect(oneError(await ws.fleet(["enroll", "--token", junk, "--nats", server.url, "--creds-out", join(ws.dir, "x.creds")]))).toMatch(
      new RegExp(`^Error: ${junk}: not an enrollment bundle: not JSON`),
    );
    const token = await ws.fleet(["credentials", "token", "--dir", D(), "--device-id", "pi-03", "--out", "-"]);
    expect(token.code, token.stderr).toBe(0);
    const file = await ws.write("pi-03.enroll", token.stdout);
    expect(oneError(await ws.fleet(["enroll", "--token", file, "--nats", server.url, "--creds-out", join(ws.dir, "y.creds"), "--device-id", "pi-04"]))).toMatch(
      new RegExp(`^Error: ${file}: the token is for device pi-03, not pi-04$`),
    );
    const existing = await ws.write("pi-03.creds", "keep me");
    expect(oneError(await ws.fleet(["enroll", "--token", file, "--nats", server.url, "--creds-out", existing]))).toMatch(/already exists \(refusing to overwrite it; the token was not used\)$/);
    expect(await readFile(existing, "utf8")).toBe("keep me");
    // Still unspent: read from stdin this time.
    const r = await ws.fleet(["enroll", "--token", "-", "--nats", server.url, "--creds-out", join(ws.dir, "pi-03b.creds")], { input: token.stdout });
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  it("creds for another server: one line naming the creds file and why", async () => {
    const other = join(ws.dir, "other");
    expect((await ws.fleet(["credentials", "init", "--dir", other])).code).toBe(0);
    expect((await ws.fleet(["credentials", "issue", "--dir", other, "--control-plane"])).code).toBe(0);
    const creds = join(other, "control-plane.creds");
    // The other control plane's enrollment service, pointed at this server.
    const r = await ws.fleet(["credentials", "serve", "--dir", other, "--nats", server.url]);
    expect(oneError(r)).toMatch(
      new RegExp(`^Error: NATS server ${server.url} refused the credentials in ${creds} \\(user control-plane of account A[A-Z0-9]+: creds for another server .*\\): .*Authorization Violation`, "i"),
    );
    // And an enrollment bundle made by another control plane is refused by this server.
    expect((await ws.fleet(["credentials", "token", "--dir", other, "--device-id", "pi-05"])).code).toBe(0);
    const file = join(other, "pi-05.enroll");
    expect(oneError(await ws.fleet(["enroll", "--token", file, "--nats", server.url, "--creds-out", join(ws.dir, "pi-05.creds")]))).toMatch(
      new RegExp(`^Error: ${file}: NATS server ${server.url} refused the token's enrollment creds \\(.*\\): the token is for account A[A-Z0-9]+; is this that fleet's server`),
    );
  }, 120_000);

  it("the service stops cleanly on SIGTERM", async () => {
    await service.terminate();
    expect(service.status()).toBe("exit code 0");
    expect(serviceLog).toMatch(/enrollment service: SIGTERM; stopping/);
  }, 60_000);
});
