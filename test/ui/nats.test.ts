/**
 * `fleet ui --backend nats` against a real nats-server (its own loopback port
 * and store): the JSON API shows the demo fleet published to NATS, and a
 * report from a real `fleet agent` (simulated runtime) reaches the API and
 * bumps the data version, without restarting the dashboard.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { BIN, type Workspace } from "../cli/support.ts";
import { demoWorkspace, startUi, type Ui } from "./support.ts";

interface Bar {
  readonly deployment: string;
  readonly matched: number;
  readonly succeeded: number;
  readonly offline: number;
}

let server: NatsServer;
let ws: Workspace;
let ui: Ui;

const get = async (path: string): Promise<{ readonly status: number; readonly body: Record<string, unknown> }> => {
  const res = await fetch(new URL(path, ui.url));
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  server = await startNatsServer();
  ws = await demoWorkspace();
  const r = await ws.fleet(["apply", "--auto-approve", "--no-typecheck", "--backend", "nats", "--nats", server.url, "demo.ts"]);
  expect(r.code, r.stderr).toBe(0);
  ui = await startUi(ws.dir, ["--no-typecheck", "--backend", "nats", "--nats", server.url, "--interval", "300ms", "demo.ts"]);
});

afterAll(async () => {
  if (ui !== undefined) await ui.stop();
  await ws?.cleanup();
  await server?.stop();
});

describe("fleet ui on the NATS backend", () => {
  it("serves status, devices, a device's explanation and the plan from NATS", async () => {
    const status = await get("/api/status");
    expect(status.status).toBe(200);
    expect(status.body["backend"]).toBe(`nats ${server.url}`);
    const bars = status.body["deployments"] as ReadonlyArray<Bar>;
    expect(bars.map((b) => [b.deployment, b.matched, b.succeeded, b.offline])).toEqual([
      ["metrics", 5, 0, 5],
      ["web", 4, 0, 4],
    ]);
    const devices = await get("/api/devices?selector=site%3Dnorth");
    expect((devices.body["devices"] as ReadonlyArray<{ id: string }>).map((d) => d.id)).toEqual(["pi-01", "pi-02"]);
    const bad = await get("/api/devices?selector=site%3D%3D%3D");
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { input: "site===" } });
    const pi01 = await get("/api/devices/pi-01");
    expect((pi01.body["desired"] as ReadonlyArray<{ deployment: string }>).map((d) => d.deployment)).toEqual(["metrics", "web"]);
    const plan = await get("/api/plan");
    expect(plan.body["summary"]).toMatchObject({ create: 0, update: 0, delete: 0 });
  });

  it("follows an agent's reports without a restart", async () => {
    const before = (await get("/api/status")).body["version"] as number;
    const agent = spawn(
      process.execPath,
      [BIN, "agent", "--device-id", "pi-01", "--nats", server.url, "--labels", "env=prod,site=north", "--arch", "aarch64", "--runtime", "simulated", "--heartbeat-interval", "500ms"],
      { cwd: ws.dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let agentErr = "";
    agent.stderr.setEncoding("utf8").on("data", (d: string) => (agentErr += d));
    const exited = new Promise<void>((done) => agent.on("close", () => done()));
    try {
      await expect
        .poll(
          async () => ((await get("/api/status")).body["deployments"] as ReadonlyArray<Bar>).map((b) => [b.deployment, b.succeeded]),
          { timeout: 30_000, interval: 300 },
        )
        .toEqual([
          ["metrics", 1],
          ["web", 1],
        ]);
      expect((await get("/api/status")).body["version"] as number).toBeGreaterThan(before);
      const pi01 = await get("/api/devices/pi-01");
      expect(pi01.body["presence"]).toBe("online");
    } finally {
      agent.kill("SIGTERM");
      await exited;
    }
    expect(agentErr).not.toMatch(/Error:/);
  });
});
