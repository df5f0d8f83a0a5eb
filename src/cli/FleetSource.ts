/**
 * The fleet files as a program-layer World source: loaded (and merged)
 * against the registered inventory that the program layer passes in, so
 * that a function export sees the devices that registered.
 */
import type { Device } from "../algebra/Device.ts";
import type { World } from "../world/World.ts";
import { loadFleetFiles, type LoadedFleet } from "./FleetFile.ts";

export const fleetFilesWorld =
  (files: ReadonlyArray<string>, timeoutMs?: number, onLoaded?: (loaded: LoadedFleet) => void) =>
  async (inventory: ReadonlyArray<Device>): Promise<World> => {
    const loaded = await loadFleetFiles(files, inventory, timeoutMs === undefined ? {} : { timeoutMs });
    onLoaded?.(loaded);
    return loaded.world;
  };
