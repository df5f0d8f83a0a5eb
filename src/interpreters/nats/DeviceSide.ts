/**
 * What agents write: device-info at registration, heartbeats, and observed
 * state per deployment. Shared by the agent, `fleet sim`, and tests that
 * play the device side against a real server.
 *
 * These writes are plain puts: each key has exactly one writer (its device),
 * so there is nothing to compare-and-set against.
 */
import type { KV } from "@nats-io/kv";
import type { Device } from "../../algebra/Device.ts";
import { entryKey, type DeploymentName, type DeviceId } from "../../algebra/Name.ts";
import type { FleetBuckets } from "./Buckets.ts";
import { encodeDeviceInfoValue, encodeDeviceStateValue, encodeHeartbeatValue, type DeviceStateValue } from "./wire.ts";

export interface DeviceWriter {
  publishInfo(device: Device): Promise<void>;
  heartbeat(id: DeviceId, at: Date, agentVersion?: string): Promise<void>;
  reportState(id: DeviceId, deployment: DeploymentName, state: DeviceStateValue): Promise<void>;
  /** Removes the observed state of a deployment the device no longer runs. */
  clearState(id: DeviceId, deployment: DeploymentName): Promise<void>;
}

export const deviceWriter = (buckets: { readonly info: KV; readonly heartbeat: KV; readonly state: KV } | FleetBuckets): DeviceWriter => ({
  publishInfo: async (device) => {
    await buckets.info.put(device.id, encodeDeviceInfoValue(device));
  },
  heartbeat: async (id, at, agentVersion) => {
    await buckets.heartbeat.put(id, encodeHeartbeatValue(agentVersion === undefined ? { time: at } : { time: at, agentVersion }));
  },
  reportState: async (id, deployment, state) => {
    await buckets.state.put(entryKey(id, deployment), encodeDeviceStateValue(state));
  },
  clearState: async (id, deployment) => {
    await buckets.state.delete(entryKey(id, deployment));
  },
});
