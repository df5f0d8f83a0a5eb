/**
 * The fleet files as a program-layer World source: loaded (and merged)
 * against the registered inventory that the program layer passes in, so
 * that a function export sees the devices that registered.
 */
import type { Device } from "../algebra/Device.ts";
import type { World } from "../world/World.ts";
import { loadFleetFiles } from "./FleetFile.ts";

export const fleetFilesWorld =
  (files: ReadonlyArray<string>, timeoutMs?: number) =>
  async (inventory: ReadonlyArray<Device>): Promise<World> =>
    (await loadFleetFiles(files, inventory, timeoutMs === undefined ? {} : { timeoutMs })).world;
