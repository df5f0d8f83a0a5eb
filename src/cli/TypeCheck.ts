/**
 * Type-checking fleet files. tsx strips types without checking them, so a
 * fleet file with a type error (a misspelt option such as `{ priorty: 10 }`,
 * which the runtime would silently ignore) would still load; `fleet validate`
 * always checks, `plan` and `apply` check unless `--no-typecheck`.
 *
 * - It uses the TypeScript compiler API with the settings of the fleet's
 *   tsconfig.json, the fleet files as roots; without one (fleet files in a
 *   project that is not a TypeScript project), with `FLEET_FILE_OPTIONS`,
 *   which read a `.ts` file as an ES module whatever the package.json says,
 *   as tsx runs it.
 * - Only diagnostics of the user's files are reported (not of libraries under
 *   node_modules, nor of this package's own sources).
 * - A successful check is remembered in a cache file keyed by the TypeScript
 *   version, the tsconfig and the roots, listing every file the program read
 *   with its size and mtime; while none of them changed, the check is skipped
 *   (a full check takes seconds, the cache lookup milliseconds).
 * - TypeScript is a development dependency: when it is not installed the
 *   result is `Unavailable` and the caller decides.
 */
import * as S from "fp-ts/lib/string.js";
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export type TypeCheckResult =
  | { readonly _tag: "Ok"; readonly cached: boolean; readonly ms: number }
  | { readonly _tag: "Errors"; readonly diagnostics: ReadonlyArray<string>; readonly ms: number }
  | { readonly _tag: "Unavailable"; readonly reason: string };

/** This package's own sources: not the user's to fix. */
const OWN_SOURCES = fileURLToPath(new URL("../", import.meta.url));

const isUserFile = (file: string): boolean => !file.includes(`${sep}node_modules${sep}`) && !resolve(file).startsWith(OWN_SOURCES);

/** Settings for fleet files outside any TypeScript project (no tsconfig.json above them). */
export const FLEET_FILE_OPTIONS: Readonly<Record<string, unknown>> = {
  target: "ES2022",
  module: "Preserve",
  moduleResolution: "Bundler",
  lib: ["ES2023"],
  strict: true,
  noUncheckedIndexedAccess: true,
  allowImportingTsExtensions: true,
  isolatedModules: true,
  resolveJsonModule: true,
  skipLibCheck: true,
  noEmit: true,
};

export const defaultCacheDir = (env: Readonly<Record<string, string | undefined>> = process.env): string =>
  env["FLEET_CACHE_DIR"] ?? join(env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "fleet-algebra");

interface CacheEntry {
  readonly files: ReadonlyArray<readonly [string, number, number]>;
}

const fileStamp = async (f: string): Promise<readonly [string, number, number] | undefined> => {
  try {
    const s = await stat(f);
    return [f, s.size, s.mtimeMs];
  } catch {
    return undefined;
  }
};

const cacheStillValid = async (path: string): Promise<boolean> => {
  let entry: CacheEntry;
  try {
    entry = JSON.parse(await readFile(path, "utf8")) as CacheEntry;
    if (!Array.isArray(entry.files)) return false;
  } catch {
    return false;
  }
  const now = await Promise.all(entry.files.map(([f]) => fileStamp(String(f))));
  return entry.files.every((e, i) => {
    const n = now[i];
    return n !== undefined && n[1] === e[1] && n[2] === e[2];
  });
};

export const typeCheck = async (
  files: ReadonlyArray<string>,
  options: { readonly tsconfig: string | undefined; readonly cacheDir?: string; readonly cwd?: string },
): Promise<TypeCheckResult> => {
  const started = performance.now();
  // The version keys the cache; reading it is cheap, loading the compiler is not (about a second).
  let tsVersion: string;
  try {
    const pkg = createRequire(import.meta.url).resolve("typescript/package.json");
    tsVersion = String((JSON.parse(await readFile(pkg, "utf8")) as { version?: unknown }).version);
  } catch {
    return { _tag: "Unavailable", reason: "the typescript package is not installed" };
  }
  const cwd = options.cwd ?? process.cwd();
  const roots = files.map((f) => resolve(cwd, f)).sort(S.Ord.compare);
  let configText = JSON.stringify(FLEET_FILE_OPTIONS);
  if (options.tsconfig !== undefined)
    try {
      configText = await readFile(options.tsconfig, "utf8");
    } catch {
      // A missing tsconfig is reported by the compiler below.
    }
  const key = createHash("sha256").update(JSON.stringify([tsVersion, options.tsconfig, configText, roots])).digest("hex").slice(0, 24);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const cachePath = join(cacheDir, `typecheck-${key}.json`);
  if (await cacheStillValid(cachePath)) return { _tag: "Ok", cached: true, ms: performance.now() - started };
  let ts: typeof import("typescript");
  try {
    ts = (await import("typescript")).default;
  } catch (e) {
    return { _tag: "Unavailable", reason: `the typescript package does not load (${(e as Error).message})` };
  }

  const format = (d: import("typescript").Diagnostic): string => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
    if (d.file === undefined || d.start === undefined) return `error TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(cwd, d.file.fileName)}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`;
  };

  const configDiagnostics: import("typescript").Diagnostic[] = [];
  const parsed =
    options.tsconfig === undefined
      ? { options: ts.convertCompilerOptionsFromJson(FLEET_FILE_OPTIONS, cwd).options }
      : ts.getParsedCommandLineOfConfigFile(
          options.tsconfig,
          { noEmit: true },
          { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => void configDiagnostics.push(d) },
        );
  if (parsed === undefined || configDiagnostics.length > 0)
    return { _tag: "Errors", diagnostics: configDiagnostics.map(format), ms: performance.now() - started };
  const program = ts.createProgram({ rootNames: roots, options: { ...parsed.options, noEmit: true } });
  const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  for (const sf of program.getSourceFiles()) {
    if (!isUserFile(sf.fileName) || sf.isDeclarationFile) continue;
    diagnostics.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
  }
  const errors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  const ms = performance.now() - started;
  if (errors.length > 0) {
    // Program order (files, then positions) is deterministic; drop exact repeats only.
    return { _tag: "Errors", diagnostics: [...new Set(errors.map(format))], ms };
  }
  // Remember the success; a cache that cannot be written only costs speed.
  try {
    const read = program.getSourceFiles().map((sf) => sf.fileName);
    const stamps = await Promise.all((options.tsconfig === undefined ? read : [...read, options.tsconfig]).map(fileStamp));
    const entry: CacheEntry = { files: stamps.filter((s): s is readonly [string, number, number] => s !== undefined) };
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${cachePath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, cachePath);
  } catch {
    // ignore
  }
  return { _tag: "Ok", cached: false, ms };
};
