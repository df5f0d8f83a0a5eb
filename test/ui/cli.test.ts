/** `fleet ui`'s command line: help, flag errors in one line, and the bind/port decoders. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { accessToken, parseBind, parsePort } from "../../src/cli/commands/ui.ts";
import { workspace, type Workspace } from "../cli/support.ts";

let ws: Workspace;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(async () => {
  await ws?.cleanup();
});

describe("fleet ui command line", () => {
  it("is listed by fleet --help and has its own help", async () => {
    expect((await ws.fleet(["--help"])).stdout).toMatch(/^ {2}ui +A live, read-only dashboard/m);
    const r = await ws.fleet(["ui", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: fleet ui \[flags\] FILE…/);
    expect(r.stdout).toContain("--bind ADDR");
  });

  it.each([
    [["ui"], "Error: missing fleet file (fleet ui FILE…) (see 'fleet ui --help')\n"],
    [["ui", "--port", "http", "f.ts"], 'Error: --port: expected a port number 0-65535, got "http" (see \'fleet ui --help\')\n'],
    [["ui", "--bind", "example.com", "f.ts"], 'Error: --bind: expected an IP address such as 127.0.0.1 or 0.0.0.0, got "example.com" (see \'fleet ui --help\')\n'],
    [["ui", "--interval", "10ms", "f.ts"], "Error: --interval: must be at least 100ms (see 'fleet ui --help')\n"],
    [["ui", "--token", "", "f.ts"], "Error: --token: must not be empty (see 'fleet ui --help')\n"],
    [["ui", "--no-typecheck", "--port", "0", "missing.ts"], "Error: missing.ts: no such file\n"],
  ])("fleet %j fails in one line", async (args, stderr) => {
    const r = await ws.fleet(args);
    expect(r.stderr).toBe(stderr);
    expect(r.code).toBe(1);
  });

  it("requires a token beyond loopback: the given one, else a generated one", () => {
    const gen = () => "generated-1";
    expect(accessToken("127.0.0.1", undefined, gen)).toEqual({ token: undefined, generated: false });
    expect(accessToken("::1", undefined, gen)).toEqual({ token: undefined, generated: false });
    expect(accessToken("0.0.0.0", undefined, gen)).toEqual({ token: "generated-1", generated: true });
    expect(accessToken("10.1.2.3", undefined, gen)).toEqual({ token: "generated-1", generated: true });
    expect(accessToken("::", "mine", gen)).toEqual({ token: "mine", generated: false });
    expect(accessToken("127.0.0.1", "mine", gen)).toEqual({ token: "mine", generated: false });
  });

  it("decodes --bind and --port", () => {
    expect(parseBind("0.0.0.0")).toEqual(E.right("0.0.0.0"));
    expect(parseBind("[::1]")).toEqual(E.right("::1"));
    expect(parseBind("localhost")).toEqual(E.right("127.0.0.1"));
    expect(E.isLeft(parseBind("10.0.0"))).toBe(true);
    expect(parsePort("0")).toEqual(E.right(0));
    expect(parsePort("65535")).toEqual(E.right(65535));
    for (const p of ["65536", "-1", "", "80a", "1e3"]) expect(E.isLeft(parsePort(p)), p).toBe(true);
  });
});
