/**
 * Two agents started with one device id, on a real nats-server: each logs
 * that the other runs as its device, names it in its heartbeats, and the
 * control plane's read (and so `fleet status`) reports the device as run by
 * more than one agent. Once one stops, the warning goes away.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { device } from "../../src/algebra/Device.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { runAgent, type AgentHandle } from "../../src/interpreters/nats/agent.ts";
import { decodeHeartbeatValue } from "../../src/interpreters/nats/wire.ts";
import { simulatedRuntime } from "../../src/interpreters/simulated/index.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";
import { fleetFile, workspace, type Workspace } from "../cli/support.ts";
import { sleep } from "./support.ts";

const until = async (pred: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred()) && Date.now() < deadline) await sleep(50);
};

describe("duplicate agents", () => {
  let server: NatsServer;
  let fleet: NatsInterpreter;
  let ws: Workspace;
  const agents: AgentHandle[] = [];
  beforeAll(async () => {
    server = await startNatsServer();
    fleet = await nats({ servers: server.url, name: "duplicate-test" });
    ws = await workspace();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await fleet?.close();
    await server?.stop();
    await ws?.cleanup();
  });

  it("two agents of one device id see each other, say so, and the control plane reports it", async () => {
    const logs = { a: [] as string[], b: [] as string[] };
    const start = (which: "a" | "b"): Promise<AgentHandle> =>
      runAgent({
        device: device("pi-01"),
        runtime: simulatedRuntime({ name: `pi-01-${which}`, latencyMs: 5 }),
        nats: { servers: server.url },
        heartbeatIntervalMs: 200,
        instance: `instance-${which}`,
        log: (l) => logs[which].push(l),
      });
    const a = await start("a");
    agents.push(a);
    const b = await start("b");
    agents.push(b);

    await until(() => logs.a.some((l) => l.includes("instance-b")) && logs.b.some((l) => l.includes("instance-a")));
    expect(logs.a.filter((l) => l.includes("another agent"))).toEqual([
      "pi-01: another agent (instance instance-b) is running as this device; this one is instance instance-a: they overwrite each other's state; stop one of them",
    ]);
    expect(logs.b.filter((l) => l.includes("another agent"))).toEqual([
      "pi-01: another agent (instance instance-a) is running as this device; this one is instance instance-b: they overwrite each other's state; stop one of them",
    ]);

    const duplicates = async (): Promise<string[]> =>
      (await fleet.read()).problems.filter((p) => p.kind === "DuplicateAgent").map((p) => `${p.source} ${p.key}: ${p.message}`);
    await until(async () => (await duplicates()).length > 0);
    expect((await duplicates())[0]).toMatch(/^device-heartbeat pi-01: more than one agent runs as this device \(instances instance-[ab], instance-[ab]\); stop all but one$/);
    // Not an unreadable record: the device is not held back.
    expect((await fleet.read()).reality.damaged.size).toBe(0);

    const status = await ws.fleet(["status", "--backend", "nats", "--nats", server.url, await ws.write("fleet.ts", fleetFile())]);
    expect(status.stderr).toMatch(/Warning: device-heartbeat pi-01: more than one agent runs as this device/);

    // One stops: within three heartbeats the other no longer names it, and the warning goes away.
    await b.stop();
    agents.splice(agents.indexOf(b), 1);
    await until(async () => (await duplicates()).length === 0);
    expect(await duplicates()).toEqual([]);
    expect(logs.a.at(-1)).toBe("pi-01: no longer sees another agent (instance instance-b) as this device");
    const hb = await fleet.buckets.heartbeat.get("pi-01");
    const value = hb === null ? undefined : decodeHeartbeatValue(hb.value);
    expect(value?._tag === "Right" ? value.right.instance : undefined).toBe("instance-a");
  }, 60_000);
});
