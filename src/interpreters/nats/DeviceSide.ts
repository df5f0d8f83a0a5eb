/**
 * What agents write: device-info at registration, heartbeats, and observed
 * state per deployment. Shared by the agent, `fleet sim`, and tests that
 * play the device side against a real server.
 *
 * These writes are plain puts (no compare-and-set): each key has exactly one
 * writer, its device. They go through the pipelined publisher, so a thousand
 * simulated agents on one connection stay cheap.
 */
import type { Device } from "../../algebra/Device.ts";
import { entryKey, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import { BUCKET, subjectPrefixOf } from "./Buckets.ts";
import type { AckPublisher } from "./Publisher.ts";
import { encodeDeviceInfoValue, encodeDeviceStateValue, encodeHeartbeatValue, type DeviceStateValue } from "./wire.ts";

/** Which run of an agent writes, and the other runs it saw as the same device (duplicate agents). */
export interface AgentRun {
  readonly instance: string;
  readonly others: ReadonlyArray<string>;
}

export interface DeviceWriter {
  publishInfo(device: Device, instance?: string): Promise<void>;
  heartbeat(id: DeviceId, at: Date, agentVersion?: string, run?: AgentRun): Promise<void>;
  reportState(id: DeviceId, deployment: DeploymentName, state: DeviceStateValue): Promise<void>;
  /** Removes the observed state of a deployment the device no longer runs. */
  clearState(id: DeviceId, deployment: DeploymentName): Promise<void>;
}

const INFO = subjectPrefixOf(BUCKET.info);
const HEARTBEAT = subjectPrefixOf(BUCKET.heartbeat);
const STATE = subjectPrefixOf(BUCKET.state);

export const deviceWriter = (publisher: AckPublisher): DeviceWriter => ({
  publishInfo: async (device, instance) => {
    await publisher.publish(INFO + device.id, encodeDeviceInfoValue(device, instance));
  },
  heartbeat: async (id, at, agentVersion, run) => {
    await publisher.publish(
      HEARTBEAT + id,
      encodeHeartbeatValue({ time: at, ...(agentVersion !== undefined ? { agentVersion } : {}), ...(run !== undefined ? { instance: run.instance, others: run.others } : {}) }),
    );
  },
  reportState: async (id, deployment, state) => {
    await publisher.publish(STATE + entryKey(id, deployment), encodeDeviceStateValue(state));
  },
  clearState: async (id, deployment) => {
    await publisher.publish(STATE + entryKey(id, deployment), new Uint8Array(0), { kvOperation: "DEL" });
  },
});
