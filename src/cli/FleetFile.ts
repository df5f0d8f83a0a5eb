/**
 * Loading fleet files: TypeScript modules whose default export is a World, or
 * a function from the registered inventory (the devices in Reality) to a
 * World, sync or async. Several files are merged with `WorldMonoid` (two
 * teams' files), so their order does not matter.
 *
 * Modules are loaded with tsx's API in a namespace of their own, using the
 * nearest tsconfig.json above the first file (for `paths` such as
 * `fleet-algebra`), else this package's. Whatever a module does (throws,
 * exports nothing, exports something else) becomes a `FleetFileError` naming
 * the file, and the line or the path inside the value; nothing is written.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomUUID } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import type { Device } from "../algebra/Device.ts";
import { formatProblem } from "../algebra/DecodeError.ts";
import { WorldMonoid, type World } from "../world/World.ts";
import { CliError } from "./CliError.ts";
import { decodeWorld } from "./WorldCodec.ts";

export class FleetFileError extends CliError {
  override readonly name: string = "FleetFileError";
}

export type ExportKind = "world" | "function";

export interface LoadedFile {
  /** As given on the command line. */
  readonly path: string;
  readonly absolute: string;
  readonly kind: ExportKind;
  readonly world: World;
}

export interface LoadedFleet {
  /** The merge of every file's World. */
  readonly world: World;
  readonly files: ReadonlyArray<LoadedFile>;
}

/** This package's tsconfig: maps `fleet-algebra` to these sources for fleet files outside any project. */
export const OWN_TSCONFIG = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));

/** The nearest tsconfig.json at or above the file's directory, else this package's. */
export const findTsconfig = (file: string): string => {
  let dir = dirname(resolve(file));
  for (;;) {
    const candidate = join(dir, "tsconfig.json");
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return OWN_TSCONFIG;
    dir = up;
  }
};

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `file:line` of the first stack frame inside the fleet file, when there is one. */
const whereIn = (e: unknown, absolute: string, shown: string): string => {
  const stack = e instanceof Error ? (e.stack ?? "") : "";
  const m = new RegExp(`${escape(absolute)}(?:\\?[^:\\s)]*)?:(\\d+):(\\d+)`).exec(stack);
  return m === null ? shown : `${shown}:${m[1]}`;
};

const errorText = (e: unknown): string => {
  if (!(e instanceof Error)) return `threw ${String(e)}`;
  const first = e.message.split("\n")[0] ?? "";
  return e.name === "Error" ? first : `${e.name}: ${first}`;
};

const problemsText = (problems: ReadonlyArray<{ path: string; message: string }>): string => {
  const shown = problems.slice(0, 3).map(formatProblem);
  return problems.length > 3 ? `${shown.join("; ")} (and ${problems.length - 3} more)` : shown.join("; ");
};

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function";

type ScopedImport = (specifier: string, parent: string) => Promise<unknown>;

const loadOne = async (path: string, cwd: string, load: ScopedImport, inventory: ReadonlyArray<Device>): Promise<LoadedFile> => {
  const absolute = resolve(cwd, path);
  if (!existsSync(absolute)) throw new FleetFileError(`${path}: no such file`);
  if (!statSync(absolute).isFile()) throw new FleetFileError(`${path}: not a file`);
  let mod: unknown;
  try {
    mod = await load(pathToFileURL(absolute).href, import.meta.url);
  } catch (e) {
    const text = errorText(e).replace(/^Transform failed with \d+ errors?:\s*/, "");
    throw new FleetFileError(`${whereIn(e, absolute, path)}: could not load: ${text.replace(`${absolute}:`, "line ")}`);
  }
  const exported = typeof mod === "object" && mod !== null ? (mod as { default?: unknown }).default : undefined;
  if (exported === undefined)
    throw new FleetFileError(`${path}: no default export (expected \`export default world({ ... })\` or a function of the inventory returning a World)`);
  let value: unknown = exported;
  let kind: ExportKind = "world";
  let where = "default export";
  if (typeof exported === "function") {
    kind = "function";
    where = "default export (the World its function returned)";
    try {
      value = (exported as (inventory: ReadonlyArray<Device>) => unknown)(inventory);
      if (isThenable(value)) value = await value;
    } catch (e) {
      throw new FleetFileError(`${whereIn(e, absolute, path)}: the exported function threw ${errorText(e)}`);
    }
  } else if (isThenable(exported)) {
    try {
      value = await exported;
    } catch (e) {
      throw new FleetFileError(`${whereIn(e, absolute, path)}: the exported promise rejected with ${errorText(e)}`);
    }
  }
  const decoded = decodeWorld(value);
  if (E.isLeft(decoded)) {
    throw new FleetFileError(`${path}: ${where}: ${problemsText(decoded.left)}`);
  }
  return { path, absolute, kind, world: decoded.right };
};

/**
 * Loads and merges fleet files. `inventory` is what function exports receive
 * (the registered devices, in id order).
 */
export const loadFleetFiles = async (
  paths: ReadonlyArray<string>,
  inventory: ReadonlyArray<Device>,
  options: { readonly cwd?: string; readonly tsconfig?: string } = {},
): Promise<LoadedFleet> => {
  const cwd = options.cwd ?? process.cwd();
  if (paths.length === 0) throw new FleetFileError("no fleet file given");
  const first = resolve(cwd, paths[0] as string);
  const tsconfig = options.tsconfig ?? findTsconfig(first);
  const { register } = await import("tsx/esm/api");
  // One namespace for all files: they share one copy of the library and of any module they both import.
  const api = register({ namespace: `fleet-${randomUUID()}`, tsconfig });
  try {
    const files: LoadedFile[] = [];
    for (const p of paths) files.push(await loadOne(p, cwd, api.import, inventory));
    return { world: concatAll(WorldMonoid)(files.map((f) => f.world)), files };
  } finally {
    await api.unregister();
  }
};
