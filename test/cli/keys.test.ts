/**
 * `fleet keys` and `fleet credentials` as a user runs them: files written
 * mode 600 and never overwritten, rotation keeps the old key for its window,
 * revocation rejects it, and every bad input is one line naming the file.
 */
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { decodeTrustStore, keyFor } from "../../src/trust/Keys.ts";
import { workspace, type Workspace } from "./support.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(async () => {
  await ws?.cleanup();
});

const oneErrorLine = (stderr: string): string => {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/internal error|    at /);
  return lines[0] as string;
};

describe("fleet keys", () => {
  it("generate writes a private key (mode 600) and trusts its public key; a second generate never overwrites it", async () => {
    const r = await ws.fleet(["keys", "generate", "--key", "signing.key", "--trust", "trust.json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((await stat(join(ws.dir, "signing.key"))).mode & 0o777).toBe(0o600);
    const list = await ws.fleet(["keys", "list", "--trust", "trust.json"]);
    expect(list.stdout).toMatch(/KID\s+ADDED\s+STATUS/);
    expect(list.stdout).toMatch(/\bvalid\b/);
    const again = await ws.fleet(["keys", "generate", "--key", "signing.key", "--trust", "trust.json"]);
    expect(again.code).toBe(1);
    expect(oneErrorLine(again.stderr)).toMatch(/signing\.key already exists/);
  });

  it("rotate keeps the old key valid for the overlap window and signs with the new one", async () => {
    const before = JSON.parse(await readFile(join(ws.dir, "signing.key"), "utf8")) as { kid: string };
    const r = await ws.fleet(["keys", "rotate", "--key", "signing.key", "--trust", "trust.json", "--overlap", "2d"]);
    expect(r.code).toBe(0);
    const after = JSON.parse(await readFile(join(ws.dir, "signing.key"), "utf8")) as { kid: string };
    expect(after.kid).not.toBe(before.kid);
    const store = decodeTrustStore(await readFile(join(ws.dir, "trust.json"), "utf8"));
    if (E.isLeft(store)) throw new Error("trust file unreadable");
    const now = Date.now();
    expect(E.isRight(keyFor(store.right, before.kid, new Date(now + 86_400_000)))).toBe(true);
    expect(E.isRight(keyFor(store.right, before.kid, new Date(now + 3 * 86_400_000)))).toBe(false);
    expect(E.isRight(keyFor(store.right, after.kid, new Date(now + 3 * 86_400_000)))).toBe(true);
  });

  it("revoke rejects a key at once", async () => {
    const { kid } = JSON.parse(await readFile(join(ws.dir, "signing.key"), "utf8")) as { kid: string };
    const r = await ws.fleet(["keys", "revoke", kid, "--trust", "trust.json", "--reason", "laptop stolen"]);
    expect(r.code).toBe(0);
    const list = await ws.fleet(["keys", "list", "--trust", "trust.json"]);
    expect(list.stdout).toMatch(/revoked \(laptop stolen\)/);
    const unknown = await ws.fleet(["keys", "revoke", "nope", "--trust", "trust.json", "--reason", "x"]);
    expect(oneErrorLine(unknown.stderr)).toMatch(/has no key nope/);
  });

  it("bad key and trust files are one line naming the file and the problem", async () => {
    await writeFile(join(ws.dir, "bad.json"), "{ not json");
    expect(oneErrorLine((await ws.fleet(["keys", "list", "--trust", "bad.json"])).stderr)).toMatch(/trust file bad\.json: not JSON/);
    await writeFile(join(ws.dir, "shape.json"), JSON.stringify({ v: 1, keys: [{ kid: "k", jwk: { kty: "RSA" } }] }));
    expect(oneErrorLine((await ws.fleet(["keys", "list", "--trust", "shape.json"])).stderr)).toMatch(/trust file shape\.json: keys/);
    expect(oneErrorLine((await ws.fleet(["keys", "list", "--trust", "missing.json"])).stderr)).toMatch(/trust file missing\.json does not exist/);
    await chmod(join(ws.dir, "signing.key"), 0o644);
    expect(oneErrorLine((await ws.fleet(["keys", "rotate", "--key", "signing.key", "--trust", "trust.json"])).stderr)).toMatch(
      /signing key file signing\.key is readable by others .*chmod 600/,
    );
    expect(oneErrorLine((await ws.fleet(["keys", "rotate", "--trust", "trust.json"])).stderr)).toMatch(/--key FILE is required/);
    expect(oneErrorLine((await ws.fleet(["keys", "frobnicate"])).stderr)).toMatch(/unknown subcommand "frobnicate"/);
  });
});

describe("fleet credentials", () => {
  it("init writes the operator (mode 600) and a server config fragment; issue mints device and control-plane creds", async () => {
    const init = await ws.fleet(["credentials", "init", "--dir", "."]);
    expect(init.code).toBe(0);
    expect((await stat(join(ws.dir, "operator.json"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(ws.dir, "server.conf"), "utf8")).toMatch(/^operator: /m);
    const dev = await ws.fleet(["credentials", "issue", "--dir", ".", "--device-id", "pi-01", "--expires", "90d"]);
    expect(dev.code).toBe(0);
    expect(await readFile(join(ws.dir, "pi-01.creds"), "utf8")).toMatch(/BEGIN NATS USER JWT/);
    expect((await ws.fleet(["credentials", "issue", "--dir", ".", "--control-plane"])).code).toBe(0);
  });

  it("bad input is one line: an invalid device id, both or neither target, a missing operator", async () => {
    expect(oneErrorLine((await ws.fleet(["credentials", "issue", "--dir", ".", "--device-id", "Pi_01"])).stderr)).toMatch(/--device-id/);
    expect(oneErrorLine((await ws.fleet(["credentials", "issue", "--dir", "."])).stderr)).toMatch(/exactly one of --device-id ID and --control-plane/);
    expect(oneErrorLine((await ws.fleet(["credentials", "issue", "--dir", "nowhere", "--control-plane"])).stderr)).toMatch(
      /nowhere\/operator\.json does not exist/,
    );
  });
});
