/**
 * Where the dashboard's data comes from: one read of the backend, with the
 * World loaded against it. Loading fleet files costs a TypeScript transform,
 * so the World is loaded again only when it can have changed: a file's
 * modification time moved, or a file exports a function of the inventory
 * and the registered devices changed.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { contentHash } from "../../algebra/Canonical.ts";
import { DeviceCodec } from "../../algebra/Device.ts";
import type { Interpreter } from "../../interpreters/Interpreter.ts";
import { loadFleetFiles, type LoadedFleet } from "../FleetFile.ts";
import { inventoryOf } from "../Inputs.ts";
import type { Observation } from "./Snapshot.ts";

export interface Source {
  /** Reads the backend now; rejects when the backend or a fleet file fails (the caller shows it and retries). */
  read(now: Date): Promise<Observation>;
}

interface Loaded {
  readonly fleet: LoadedFleet;
  readonly mtimes: string;
  readonly inventory: string;
}

export const source = (interpreter: Interpreter, files: ReadonlyArray<string>, offlineAfterMs: number, cwd = process.cwd()): Source => {
  let loaded: Loaded | undefined;
  const mtimesOf = async (): Promise<string> =>
    // A file that cannot be stat'ed counts as changed: loading it then says what is wrong, naming it.
    (await Promise.all(files.map(async (f) => `${f}:${(await stat(resolve(cwd, f)).catch(() => undefined))?.mtimeMs ?? "missing"}`))).join("\n");
  return {
    read: async (now) => {
      const { reality, problems } = await interpreter.read();
      const inventory = inventoryOf(reality);
      const inventoryKey = contentHash(inventory.map((d) => DeviceCodec.encode(d)));
      const mtimes = await mtimesOf();
      const stale =
        loaded === undefined || loaded.mtimes !== mtimes || (loaded.inventory !== inventoryKey && loaded.fleet.files.some((f) => f.kind === "function"));
      if (stale) loaded = { fleet: await loadFleetFiles(files, inventory, { cwd }), mtimes, inventory: inventoryKey };
      return { world: (loaded as Loaded).fleet.world, reality, problems, now, offlineAfterMs };
    },
  };
};
