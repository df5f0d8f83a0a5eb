/**
 * The shape every `fleet` subcommand module has (`src/cli/commands/*.ts`),
 * so that `main` can load each one lazily by a dynamic import, and the exit
 * codes they return.
 */

export interface Command {
  /** The text `fleet <command> --help` prints. */
  readonly help: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: ReadonlyArray<string>): Promise<number>;
}

/**
 * - 0: success (for `plan --detailed-exitcode`: success and no changes);
 * - 1: any error, a refused apply, a failed action, conflicts;
 * - 2: `plan --detailed-exitcode` only: success, and there are changes.
 */
export const ExitCode = { Ok: 0, Error: 1, Changes: 2 } as const;
