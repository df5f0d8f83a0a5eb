/**
 * The inputs of the commands that compare a World with Reality (plan, apply,
 * status, explain): type-checking the fleet files, opening the backend and
 * reading Reality (reporting unreadable records as warnings, never failing
 * on them), then loading the World with the registered inventory.
 *
 * Order matters for messages: type errors first (they explain most load
 * failures), then the backend (a function export needs the inventory), then
 * the World.
 */
import type { Reality } from "../diff/Reality.ts";
import type { ReadProblem } from "../interpreters/Interpreter.ts";
import { openBackend, type BackendConfig, type OpenBackend } from "./backends.ts";
import { CliError } from "./CliError.ts";
import { checkFleetPaths, findTsconfig, loadFleetFiles, type LoadedFleet } from "./FleetFile.ts";
import { DEFAULT_LOAD_TIMEOUT_MS } from "./LoadGuard.ts";
import { orUsage, parseDuration } from "./Args.ts";
import { typeCheck } from "./TypeCheck.ts";
import type { Terminal } from "./Terminal.ts";
import * as J from "./JsonLines.ts";
import { inventoryOf } from "../program/Plan.ts";

export class TypeErrors extends CliError {
  override readonly name: string = "TypeErrors";
}

/**
 * Type-checks fleet files, printing each diagnostic on stderr. `required`:
 * when TypeScript is missing that is an error (validate), else a warning.
 */
export const checkTypes = async (files: ReadonlyArray<string>, t: Terminal, required: boolean): Promise<{ readonly ms: number; readonly cached: boolean } | undefined> => {
  // A missing file or a directory is one line of ours, not the type checker's TS6053 or TS6231.
  checkFleetPaths(files);
  const r = await typeCheck(files, { tsconfig: findTsconfig(files[0] as string) });
  switch (r._tag) {
    case "Ok":
      return { ms: r.ms, cached: r.cached };
    case "Unavailable":
      if (required) throw new CliError(`cannot type-check: ${r.reason}`);
      t.err(`${t.e.yellow("Warning:")} fleet files not type-checked: ${r.reason}`);
      return undefined;
    case "Errors":
      for (const d of r.diagnostics) t.err(d);
      throw new TypeErrors(
        `${r.diagnostics.length} type error${r.diagnostics.length === 1 ? "" : "s"} in the fleet files${required ? "" : " (fix them, or pass --no-typecheck to plan anyway)"}`,
      );
  }
};

/** Opens the backend for `f` and always closes it; tells the user on stderr when it waits for a lock. */
export const withBackend = async <A>(config: BackendConfig, t: Terminal, f: (b: OpenBackend) => Promise<A>): Promise<A> => {
  const b = await openBackend(config, {
    onLockWait: (holder) => t.err(`Waiting for the state lock, held by ${holder}...`),
  });
  try {
    return await f(b);
  } finally {
    await b.interpreter.close();
  }
};

export const reportProblems = (problems: ReadonlyArray<ReadProblem>, t: Terminal, json: boolean): void => {
  for (const p of problems)
    if (json) t.out(J.warning(p));
    else if (p.kind === "DuplicateAgent") t.err(`${t.e.yellow("Warning:")} ${p.source} ${p.key}: ${p.message}`);
    else t.err(`${t.e.yellow("Warning:")} skipped unreadable record ${p.source} ${p.key}: ${p.message}`);
};

/** The registered devices, in id order: what a fleet file's function export receives. */
export { inventoryOf };

export interface Inputs {
  readonly reality: Reality;
  readonly problems: ReadonlyArray<ReadProblem>;
  readonly fleet: LoadedFleet;
}

/** The flag of every command that loads fleet files. */
export const loadTimeoutFlag = { "load-timeout": { type: "string" } } as const;
export const loadTimeoutHelp = `  --load-timeout DURATION       how long a fleet file may take to load (default ${DEFAULT_LOAD_TIMEOUT_MS / 1000}s)`;
/** `--load-timeout`, decoded, or its default. */
export const loadTimeoutOf = (command: string, values: { readonly "load-timeout"?: string | undefined }): number =>
  values["load-timeout"] === undefined ? DEFAULT_LOAD_TIMEOUT_MS : orUsage(command, parseDuration("--load-timeout", values["load-timeout"]));

/** Reads Reality and loads the World against it. */
export const readInputs = async (b: OpenBackend, files: ReadonlyArray<string>, timeoutMs: number = DEFAULT_LOAD_TIMEOUT_MS): Promise<Inputs> => {
  const { reality, problems } = await b.interpreter.read();
  const fleet = await loadFleetFiles(files, inventoryOf(reality), { timeoutMs });
  return { reality, problems, fleet };
};
