/**
 * The plan use case, minus rendering: read Reality through an interpreter,
 * build the World against it (a fleet file's function export needs the
 * registered inventory), diff, and say what looks like a mistake.
 *
 * What `fleet plan` does, as a library function over an `Interpreter` value,
 * so that a tool embedding the library plans exactly as the CLI does.
 * Nothing here prints, exits or reads a clock: `now` is a parameter.
 */
import type { Device } from "../algebra/Device.ts";
import { diffTargets } from "../diff/Diff.ts";
import { targets } from "../diff/Targets.ts";
import type { Conflict, Plan } from "../diff/Plan.ts";
import { registeredDevices, type Reality } from "../diff/Reality.ts";
import type { DeviceId } from "../algebra/Name.ts";
import type { Interpreter, ReadProblem } from "../interpreters/Interpreter.ts";
import { worldHash, type World } from "../world/World.ts";
import { realityDigest } from "./Binding.ts";
import { worldWarnings, type WorldWarning } from "./Warnings.ts";

/** A World, or how to build one from the registered devices (in id order), as a fleet file's function export does. */
export type WorldSource = World | ((inventory: ReadonlyArray<Device>) => World | Promise<World>);

export interface PlanOptions {
  /** The time against which heartbeats are judged. */
  readonly now: Date;
  /** A device whose last heartbeat is older than this is offline. Default 90 s. */
  readonly offlineAfterMs?: number;
}

/** A plan with everything it was computed from, ready to show, save or apply. */
export interface Planned {
  readonly world: World;
  readonly reality: Reality;
  /** Records the interpreter could not read (their devices are left alone). */
  readonly problems: ReadonlyArray<ReadProblem>;
  readonly plan: Plan;
  readonly warnings: ReadonlyArray<WorldWarning>;
  readonly now: Date;
  /** `worldHash(world)` and `realityDigest(reality)`: what a saved plan is bound to. */
  readonly worldHash: string;
  readonly realityDigest: string;
}

/** The registered devices, in id order: what a World source's function receives. */
export const inventoryOf = (r: Reality): ReadonlyArray<Device> => registeredDevices(r);


export const buildWorld = async (source: WorldSource, reality: Reality): Promise<World> =>
  typeof source === "function" ? source(inventoryOf(reality)) : source;

/** Plans against what is already read (no I/O). */
export const planFrom = (world: World, read: { readonly reality: Reality; readonly problems: ReadonlyArray<ReadProblem> }, options: PlanOptions): Planned => {
  // Digesting a million devices costs seconds, and only saved plans, JSON headers and signing use it: on first read.
  let hash: string | undefined;
  let digest: string | undefined;
  const t = targets(world, read.reality);
  return {
    world,
    reality: read.reality,
    problems: read.problems,
    plan: diffTargets(world, read.reality, options, t),
    warnings: worldWarnings(world, t.fleet.devices),
    now: options.now,
    get worldHash() {
      return (hash ??= worldHash(world));
    },
    get realityDigest() {
      return (digest ??= realityDigest(read.reality));
    },
  };
};

/**
 * Reads Reality, builds the World and plans. Throws only what the
 * interpreter's `read` or the World source throws (a backend that cannot be
 * reached, a fleet file that does not load).
 */
export const plan = async (interpreter: Interpreter, source: WorldSource, options: PlanOptions): Promise<Planned> => {
  const read = await interpreter.read();
  return planFrom(await buildWorld(source, read.reality), read, options);
};
