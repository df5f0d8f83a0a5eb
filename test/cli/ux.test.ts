/**
 * End to end: help, version, usage errors, colours, and the explain and
 * status commands after simulated agents reported.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, REPO, fleetFile, jsonLines, run, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";
// Heartbeats stay fresh however slow the machine is between simulate and the checks.
const FRESH = ["--offline-after", "1h"];
const ESC = "\u001b[";

describe("fleet: help, usage, colours", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    await ws.write("fleet.ts", fleetFile({ extra: `, assign("env=prod", deployment("web", podman({ services: [{ name: "httpd", image: "httpd:2.6" }] })), { name: "pin", priority: 5 })` }));
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("fleet --help lists every command; no arguments prints it on stderr and exits 1", async () => {
    const r = await ws.fleet(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["plan", "apply", "explain", "status", "validate", "force-unlock", "local", "agent", "sim", "kube"]) expect(r.stdout).toMatch(new RegExp(`^  ${c} +\\S`, "m"));
    expect(r.stdout).toContain("Exit codes: 0 success, 1 error, 2 changes present (plan --detailed-exitcode).");
    const none = await ws.fleet([]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("Usage: fleet <command>");
  });

  it.each([
    ["plan", "Usage: fleet plan [flags] FILE…"],
    ["apply", "Usage: fleet apply [flags] FILE…"],
    ["explain", "Usage: fleet explain [flags] FILE… DEVICE"],
    ["status", "Usage: fleet status [flags] FILE…"],
    ["validate", "Usage: fleet validate [flags] FILE…"],
    ["force-unlock", "Usage: fleet force-unlock [flags] LOCK_ID"],
    ["local", "Usage: fleet local simulate [flags] [FILE…]"],
  ])("fleet %s --help", async (command, usage) => {
    const r = await ws.fleet([command, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(usage)).toBe(true);
    if (command === "plan") {
      expect((await ws.fleet(["help", command])).stdout).toBe(r.stdout);
      expect((await ws.fleet([command, "-h"])).stdout).toBe(r.stdout);
    }
  });

  it("--version", async () => {
    const r = await ws.fleet(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^fleet \d+\.\d+\.\d+ \(node v\d+/);
  });

  it("unknown flags, commands and bad flag values are one-line errors", async () => {
    const cases: Array<[ReadonlyArray<string>, string]> = [
      [["plan", "--bogus", "fleet.ts"], "Error: unknown flag --bogus (see 'fleet plan --help')\n"],
      [["frobnicate"], "Error: unknown command \"frobnicate\" (see 'fleet --help')\n"],
      [["plan"], "Error: missing fleet file (fleet plan FILE…) (see 'fleet plan --help')\n"],
      [["plan", "--out"], "Error: flag --out needs a value (see 'fleet plan --help')\n"],
      [["plan", "--group-by", "site", "fleet.ts"], 'Error: --group-by: expected one of device, deployment, got "site" (see \'fleet plan --help\')\n'],
      [["apply", "--lock-timeout", "soon", "fleet.ts"], 'Error: --lock-timeout: expected a duration like 30s, 500ms or 5m, got "soon" (see \'fleet apply --help\')\n'],
      [["plan", "--backend", "etcd", "fleet.ts"], 'Error: --backend: expected one of local, nats, kube, podman, got "etcd" (see \'fleet plan --help\')\n'],
      [["plan", "--nats", "nats://127.0.0.1:1", "fleet.ts"], "Error: --nats is a flag of the nats backend, but the backend is local (add --backend nats) (see 'fleet plan --help')\n"],
      [["explain", "fleet.ts", "Not_A_Device"], 'Error: DEVICE: invalid device id "Not_A_Device": must be lower case (found "N") (see \'fleet explain --help\')\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await ws.fleet(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 1, stderr });
    }
  });

  it("colours: none off a terminal or with NO_COLOR, on with FORCE_COLOR", async () => {
    const plain = await ws.fleet(["plan", NT, "fleet.ts"]);
    expect(plain.stdout).not.toContain(ESC);
    const forced = await ws.fleet(["plan", NT, "fleet.ts"], { env: { FORCE_COLOR: "1" } });
    expect(forced.stdout).toContain(`${ESC}32m+${ESC}39m`);
    const both = await ws.fleet(["plan", NT, "fleet.ts"], { env: { FORCE_COLOR: "0", NO_COLOR: "1" } });
    expect(both.stdout).not.toContain(ESC);
    const no = await ws.fleet(["plan", "--bogus"], { env: { NO_COLOR: "1" } });
    expect(no.stderr).not.toContain(ESC);
    const err = await ws.fleet(["plan", "--bogus"], { env: { FORCE_COLOR: "1" } });
    expect(err.stderr).toContain(`${ESC}31m`);
    // Same words with and without colour.
    expect(forced.stdout.replace(/\u001b\[[0-9;]*m/g, "")).toBe(plain.stdout);
  });

  it("explain: assignments with their selector trees, desired and shadowed deployments, what the device reports", async () => {
    expect((await ws.fleet(["apply", NT, "--auto-approve", "fleet.ts"])).code).toBe(0);
    expect((await ws.fleet(["local", "simulate", "fleet.ts", "--fail", "pi-02.web=image pull failed", "--offline", "nuc-01"])).code).toBe(0);
    const r = await ws.fleet(["explain", NT, ...FRESH, "fleet.ts", "pi-02"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Device pi-02\n  declared:   env=prod; arch aarch64\n  registered: env=prod; arch aarch64\n  presence:   online, last heartbeat \d+[smh] ago/);
    expect(r.stdout).toContain("  ✓ pin, priority 5: gives web\n      ✓ env=prod  (env is \"prod\")");
    expect(r.stdout).toContain("  ✓ env=prod: gives web (shadowed by pin)");
    expect(r.stdout).toMatch(/Desired deployments \(2\):\n  metrics  [0-9a-f]{12}  by @all\n  web      [0-9a-f]{12}  by pin \(env=prod, priority 5\)/);
    expect(r.stdout).toContain("Shadowed (1):\n  env=prod (priority 0) gives web; pin wins with a higher priority");
    expect(r.stdout).toMatch(/  web\s+[0-9a-f]{12}\s+[0-9a-f]{12}\s+[0-9a-f]{12}\s+Failed\s+\d+[smh] ago\s+image pull failed/);
    const dev = await ws.fleet(["explain", NT, ...FRESH, "fleet.ts", "nuc-01"]);
    expect(dev.stdout).toContain("  ✗ pin, priority 5: gives web\n      ✗ env=prod  (env is \"dev\")");
    expect(dev.stdout).toContain("presence:   offline, no heartbeat yet");
    const unknown = await ws.fleet(["explain", NT, "fleet.ts", "ghost-1"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("Error: device ghost-1 is neither declared by the World nor registered with the backend\n");
  });

  it("status: per deployment counts and the last error; per device; JSON lines", async () => {
    const r = await ws.fleet(["status", NT, ...FRESH, "fleet.ts"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^DEPLOYMENT  MATCHED  SUCCEEDED  FAILED  PENDING  OFFLINE  LAST ERROR\nmetrics           4          3       0        0        1\nweb               3          2       1        0        0  pi-02: image pull failed \(\d+[smh] ago\)\n\nDevices: 4 \(3 online, 1 offline, 0 not registered\)\n$/);
    const d = await ws.fleet(["status", NT, ...FRESH, "fleet.ts", "--device", "pi-02"]);
    expect(d.stdout).toMatch(/^Device pi-02: online, last heartbeat \d+[smh] ago\n\nDEPLOYMENT  STATE    SPEC/);
    expect(d.stdout).toMatch(/\nweb         Failed   [0-9a-f]{12}  [0-9a-f]{12}  [0-9a-f]{12}  \d+[smh] ago\s+image pull failed\n$/);
    const j = jsonLines((await ws.fleet(["status", NT, ...FRESH, "--json", "fleet.ts"])).stdout);
    expect(j.filter((l) => l.type === "deployment_status").map((l) => [l["deployment"], l["succeeded"], l["failed"], l["offline"]])).toEqual([
      ["metrics", 3, 0, 1],
      ["web", 2, 1, 0],
    ]);
    expect(j.filter((l) => l.type === "device_status").map((l) => l["device"])).toEqual(["nuc-01", "pi-01", "pi-02", "pi-03"]);
  });

  it("on a terminal, apply asks for confirmation: only 'yes' applies; progress and colours are on", async () => {
    // `script` (util-linux, Essential in Debian) runs the CLI on a pseudo-terminal; answer when asked.
    const onTerminal = (args: string, answer: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn("script", ["-qec", `${process.execPath} ${BIN} ${args}`, "/dev/null"], {
          cwd: ws.dir,
          env: { ...process.env, FLEET_CACHE_DIR: `${ws.dir}/.cache`, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: "xterm" },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        let answered = false;
        c.stdout.setEncoding("utf8").on("data", (d: string) => {
          out += d;
          if (!answered && out.includes("Enter a value:")) {
            answered = true;
            c.stdin.write(`${answer}\n`);
          }
        });
        c.on("close", (code) => resolve({ code, out }));
      });
    await ws.write("tty.ts", fleetFile({ webImage: "httpd:9" }));
    const no = await onTerminal(`apply ${NT} --state-dir tty-state tty.ts`, "no");
    expect(no.out).toContain("Do you want to perform these actions?");
    expect(no.out).toContain("Apply cancelled.");
    expect(no.code).toBe(1);
    expect(existsSync(join(ws.dir, "tty-state", "state.records"))).toBe(false);
    const yes = await onTerminal(`apply ${NT} --state-dir tty-state tty.ts`, "yes");
    expect(yes.code).toBe(0);
    expect(yes.out).toContain("Applying: 7/7");
    expect(yes.out).toContain(`${ESC}32m${ESC}1mApply complete! 7 created, 0 updated, 0 deleted, 0 failed.`);
  });

  it("runs from the repository as npx fleet, and as tsx apply", async () => {
    const npx = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn("npx", ["fleet", "--version"], { cwd: REPO, stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      c.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      c.on("close", (code) => resolve({ code, out }));
    });
    expect(npx).toMatchObject({ code: 0, out: expect.stringMatching(/^fleet \d/) });
    const tsx = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [`${REPO}node_modules/tsx/dist/cli.mjs`, "apply", "--help"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      let out = "";
      c.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      c.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      c.on("close", (code) => resolve({ code, err: err + out }));
    });
    expect(tsx).toMatchObject({ code: 0, err: expect.stringContaining("Usage: fleet apply [flags] FILE…") });
    // An absolute path to the binary works from any directory.
    expect((await run(["--version"], "/")).stdout).toMatch(/^fleet \d/);
    expect(BIN.startsWith("/")).toBe(true);
  });
});
