/**
 * Loading fleet files: TypeScript modules whose default export is a World, or
 * a function from the registered inventory (the devices in Reality) to a
 * World, sync or async. Several files are merged with `WorldMonoid` (two
 * teams' files), so their order does not matter.
 *
 * Modules are loaded with tsx's API in a namespace of their own, using the
 * nearest tsconfig.json above the first file (for `paths` such as
 * `fleet-algebra`), else this package's in a checkout, else none (an
 * installed package: `fleet-algebra` resolves from node_modules). Whatever a
 * module does (throws, exports nothing, exports something else, calls
 * `process.exit`, never finishes: `LoadGuard.ts`) becomes a `FleetFileError`
 * naming the file, and the line or the path inside the value; nothing is
 * written.
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
import { errorMessage } from "../algebra/ErrorMessage.ts";
import { decodeWorld } from "./WorldCodec.ts";
import { DEFAULT_LOAD_TIMEOUT_MS, guardLoad } from "./LoadGuard.ts";

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

/**
 * This package's tsconfig in a checkout: maps `fleet-algebra` to these
 * sources for fleet files outside any project. An installed package has none.
 */
export const OWN_TSCONFIG = fileURLToPath(new URL("../../tsconfig.json", import.meta.url));

/**
 * The nearest tsconfig.json at or above the file's directory, else this
 * package's in a checkout, else `undefined` (settings of our own apply).
 */
export const findTsconfig = (file: string): string | undefined => {
  let dir = dirname(resolve(file));
  for (;;) {
    const candidate = join(dir, "tsconfig.json");
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return existsSync(OWN_TSCONFIG) ? OWN_TSCONFIG : undefined;
    dir = up;
  }
};

/**
 * Checks that every path names a file, before anything else reads them (the
 * type checker would report a missing root in its own words, TS6053).
 */
export const checkFleetPaths = (paths: ReadonlyArray<string>, cwd: string = process.cwd()): void => {
  if (paths.length === 0) throw new FleetFileError("no fleet file given");
  for (const path of paths) {
    const absolute = resolve(cwd, path);
    let isFile: boolean;
    try {
      const st = statSync(absolute);
      if (st.isDirectory()) throw new FleetFileError(`${path}: is a directory; name the fleet files in it (e.g. ${join(path, "*.ts")})`);
      isFile = st.isFile();
    } catch (e) {
      if (e instanceof FleetFileError) throw e;
      throw new FleetFileError(`${path}: no such file`);
    }
    if (!isFile) throw new FleetFileError(`${path}: not a file`);
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
  if (!(e instanceof Error)) return `threw ${errorMessage(e)}`;
  // A selector error goes on to quote the selector with a caret under the column: keep those lines.
  const shown = e.name === "InvalidSelectorError" ? e.message : (e.message.split("\n")[0] ?? "");
  return e.name === "Error" ? shown : `${e.name}: ${shown}`;
};

const problemsText = (problems: ReadonlyArray<{ path: string; message: string }>): string => {
  const shown = problems.slice(0, 3).map(formatProblem);
  return problems.length > 3 ? `${shown.join("; ")} (and ${problems.length - 3} more)` : shown.join("; ");
};

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function";

type ScopedImport = (specifier: string, parent: string) => Promise<unknown>;

/** What the fleet file's code gives: its default export, awaited and applied to the inventory if need be. */
const runModule = async (path: string, absolute: string, load: ScopedImport, inventory: ReadonlyArray<Device>): Promise<{ readonly value: unknown; readonly kind: ExportKind; readonly where: string }> => {
  let mod: unknown;
  try {
    mod = await load(pathToFileURL(absolute).href, import.meta.url);
  } catch (e) {
    const text = errorText(e).replace(/^Transform failed with \d+ errors?:\s*/, "");
    throw new FleetFileError(`${whereIn(e, absolute, path)}: could not load: ${text.replace(`${absolute}:`, "line ")}`);
  }
  let exported = typeof mod === "object" && mod !== null ? (mod as { default?: unknown }).default : undefined;
  // In a package without "type": "module", tsx compiles a .ts file to CommonJS: its `export default` arrives
  // as the `default` of an `__esModule` object (the module.exports that Node hands over as the default).
  if (typeof exported === "object" && exported !== null && (exported as { __esModule?: unknown }).__esModule === true)
    exported = (exported as { default?: unknown }).default;
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
  return { value, kind, where };
};

const loadOne = async (path: string, cwd: string, load: ScopedImport, inventory: ReadonlyArray<Device>, timeoutMs: number): Promise<LoadedFile> => {
  const absolute = resolve(cwd, path);
  const { value, kind, where } = await guardLoad(path, timeoutMs, () => runModule(path, absolute, load, inventory), (m) => new FleetFileError(m));
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
  options: { readonly cwd?: string; readonly tsconfig?: string; readonly timeoutMs?: number } = {},
): Promise<LoadedFleet> => {
  const cwd = options.cwd ?? process.cwd();
  checkFleetPaths(paths, cwd);
  const first = resolve(cwd, paths[0] as string);
  const tsconfig = options.tsconfig ?? findTsconfig(first) ?? false;
  const { register } = await import("tsx/esm/api");
  // One namespace for all files: they share one copy of the library and of any module they both import.
  const api = register({ namespace: `fleet-${randomUUID()}`, tsconfig });
  try {
    const files: LoadedFile[] = [];
    for (const p of paths) files.push(await loadOne(p, cwd, api.import, inventory, options.timeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS));
    return { world: concatAll(WorldMonoid)(files.map((f) => f.world)), files };
  } finally {
    await api.unregister();
  }
};
