/**
 * The status use case, minus rendering: read Reality, build the World
 * against it and compute how far Reality has come towards it (`status` of
 * `src/diff/Status.ts`), for the fleet or for one device.
 */
import * as E from "fp-ts/lib/Either.js";
import type { DeviceId } from "../algebra/Name.ts";
import type { Reality } from "../diff/Reality.ts";
import { status, type DeviceStatus, type FleetStatus } from "../diff/Status.ts";
import type { Interpreter, ReadProblem } from "../interpreters/Interpreter.ts";
import type { World } from "../world/World.ts";
import { buildWorld, type PlanOptions, type WorldSource } from "./Plan.ts";

export interface StatusReport {
  readonly world: World;
  readonly reality: Reality;
  readonly problems: ReadonlyArray<ReadProblem>;
  readonly status: FleetStatus;
}

/** Why one device has no status. */
export type NoDeviceStatus =
  | { readonly _tag: "Damaged"; readonly device: DeviceId; readonly reason: string }
  | { readonly _tag: "NotInFleet"; readonly device: DeviceId };

/** Reads Reality, builds the World and computes the status. Throws only what `read` or the World source throws. */
export const fleetStatus = async (interpreter: Interpreter, source: WorldSource, options: PlanOptions): Promise<StatusReport> => {
  const { reality, problems } = await interpreter.read();
  const world = await buildWorld(source, reality);
  return { world, reality, problems, status: status(world, reality, options) };
};

/** One device's status from a report, or why there is none. */
export const deviceStatus = (report: StatusReport, id: DeviceId): E.Either<NoDeviceStatus, DeviceStatus> => {
  const d = report.status.devices.find((x) => x.device === id);
  if (d !== undefined) return E.right(d);
  const damage = report.reality.damaged.get(id);
  return E.left(damage !== undefined ? { _tag: "Damaged", device: id, reason: damage } : { _tag: "NotInFleet", device: id });
};
