/**
 * Many simulated devices in one process (`fleet sim`): each is a real agent
 * (agent.ts) driving a simulated runtime, and all share one NATS connection.
 *
 * Device ids are `<prefix>-<n>` with `n` zero-padded to a common width
 * (`sim-0000` … `sim-0999`), so their order is their number. Everything random
 * (which starts fail, start-time jitter, which health checks fail) is drawn
 * from `seed`; `failDevices` picks devices on which every new spec fails.
 */
import * as Ord from "fp-ts/lib/Ord.js";
import * as E from "fp-ts/lib/Either.js";
import * as RA from "fp-ts/lib/ReadonlyArray.js";
import { parseDevice, InvalidDeviceError, type Device, type DeviceError } from "../../algebra/Device.ts";
import type { Labels } from "../../algebra/Labels.ts";
import { OrdDeviceId, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import { compile, type Selector } from "../../selectors/Selector.ts";
import { forEachConcurrently } from "../Pool.ts";
import { simulatedRuntime, type SimulatedRuntime } from "../simulated/index.ts";
import { openAgentConnection, type AgentConnection } from "./AgentConnection.ts";
import { runAgent, type AgentHandle, type ReportedState } from "./agent.ts";
import type { ConnectionSettings } from "./Connection.ts";

export interface SimulationOptions {
  readonly devices: number;
  /** Where to connect (the simulation owns this connection)… */
  readonly nats?: ConnectionSettings;
  /** …or a connection to share. */
  readonly connection?: AgentConnection;
  /** Replicas of the buckets this simulation creates; an existing bucket with another count is an error (BucketSettings). */
  readonly replicas?: number;
  /** Default `sim`. */
  readonly prefix?: string;
  readonly labels?: Labels;
  /** Default `x86_64`. */
  readonly arch?: string;
  readonly failRate?: number;
  /** Fraction of (device, spec) pairs whose health check reports unhealthy (SimulatedRuntimeOptions). */
  readonly unhealthyRate?: number;
  /** Devices that fail every spec other than the first they ran per deployment (a bad new version)… */
  readonly failDevices?: Selector;
  /** …only specs with an image containing this, when given. */
  readonly failImage?: string;
  /** Time to start one deployment, ms. Default 20. */
  readonly latencyMs?: number;
  readonly jitter?: number;
  readonly seed?: number;
  readonly heartbeatIntervalMs?: number;
  readonly resyncIntervalMs?: number;
  /** With `nats`: how long one JetStream API request may take, ms. Default 10 000. */
  readonly apiTimeoutMs?: number;
  /** Agents started at once. Default 64. */
  readonly startConcurrency?: number;
  readonly log?: (line: string) => void;
  readonly onReport?: (device: DeviceId, deployment: DeploymentName, state: ReportedState) => void;
}

export interface Simulation {
  readonly devices: ReadonlyArray<Device>;
  readonly agents: ReadonlyArray<AgentHandle>;
  readonly runtimes: ReadonlyMap<DeviceId, SimulatedRuntime>;
  readonly connection: AgentConnection;
  stop(): Promise<void>;
}

/** Agents in the order of their devices' ids. */
const OrdAgentByDevice: Ord.Ord<AgentHandle> = Ord.contramap((a: AgentHandle) => a.deviceId)(OrdDeviceId);

/** The simulated devices, or why they cannot be made (a bad prefix, label or arch). */
export const simulatedDevices = (options: Pick<SimulationOptions, "devices" | "prefix" | "labels" | "arch">): E.Either<DeviceError, ReadonlyArray<Device>> => {
  const width = Math.max(4, String(Math.max(0, options.devices - 1)).length);
  const out: Device[] = [];
  for (let i = 0; i < options.devices; i++) {
    const d = parseDevice(`${options.prefix ?? "sim"}-${String(i).padStart(width, "0")}`, {
      labels: { ...(options.labels ?? {}) },
      arch: options.arch ?? "x86_64",
      inventory: { simulated: true, index: i },
    });
    if (E.isLeft(d)) return d;
    out.push(d.right);
  }
  return E.right(out);
};

export const runSimulation = async (options: SimulationOptions): Promise<Simulation> => {
  const devices = simulatedDevices(options);
  if (E.isLeft(devices)) throw new InvalidDeviceError(devices.left);
  if (options.connection === undefined && options.nats === undefined) throw new Error("runSimulation: give `nats` or `connection`");
  const connection =
    options.connection ??
    (await openAgentConnection(options.nats as ConnectionSettings, {
      ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
      ...(options.apiTimeoutMs !== undefined ? { apiTimeoutMs: options.apiTimeoutMs } : {}),
    }));
  const owned = options.connection === undefined;
  const runtimes = new Map<DeviceId, SimulatedRuntime>();
  const agents: AgentHandle[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all([...runtimes.values()].map((r) => r.close()));
    if (owned) await connection.close();
  };
  try {
    const list = devices.right;
    const failing = options.failDevices !== undefined ? compile(options.failDevices) : undefined;
    const start = async (device: Device): Promise<void> => {
      const runtime = simulatedRuntime({
        name: device.id,
        ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
        ...(options.jitter !== undefined ? { jitter: options.jitter } : {}),
        ...(options.failRate !== undefined ? { failRate: options.failRate } : {}),
        ...(options.unhealthyRate !== undefined ? { unhealthyRate: options.unhealthyRate } : {}),
        ...(failing !== undefined && failing(device) ? { failNewSpecs: options.failImage !== undefined ? { image: options.failImage } : {} } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      });
      runtimes.set(device.id, runtime);
      const onReport = options.onReport;
      agents.push(
        await runAgent({
          device,
          runtime,
          connection,
          reconnectSpreadMs: Math.min(10_000, list.length * 5),
          ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
          ...(options.resyncIntervalMs !== undefined ? { resyncIntervalMs: options.resyncIntervalMs } : {}),
          ...(options.log !== undefined ? { log: options.log } : {}),
          ...(onReport !== undefined ? { onReport: (n: DeploymentName, s: ReportedState) => onReport(device.id, n, s) } : {}),
        }),
      );
    };
    await forEachConcurrently(list, options.startConcurrency ?? 64, start);
  } catch (e) {
    await stopAll();
    throw e;
  }
  // Started concurrently, so pushed in completion order: listed by device id.
  return { devices: devices.right, agents: RA.sort(OrdAgentByDevice)(agents), runtimes, connection, stop: stopAll };
};
