/**
 * `fleet`: the command-line entry point. Dispatches to one module per
 * command (`src/cli/commands/*.ts`), loaded by a dynamic import so that a
 * command only loads what it uses.
 *
 * Errors: an expected failure (bad flag, fleet file that does not load,
 * unreachable server, stale plan, held lock) is one line `Error: …` on stderr
 * and exit code 1; anything else is a bug and says so, still in one line
 * unless `FLEET_DEBUG=1`, which prints the stack.
 */
import { pathToFileURL } from "node:url";
import type { Command } from "./Command.ts";
import { ExitCode } from "./Command.ts";
import { isExpected } from "./CliError.ts";
import { terminal, type Terminal } from "./Terminal.ts";
import { VERSION } from "./Version.ts";
import { didYouMean } from "./Suggest.ts";
import { installExitHandlers } from "./Exit.ts";
import { guardProcessOutput } from "./Output.ts";
import { errorMessage } from "../algebra/ErrorMessage.ts";

interface Entry {
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

/** In the order `fleet --help` lists them. */
const COMMANDS: ReadonlyArray<readonly [string, Entry]> = [
  ["plan", { summary: "Show what apply would change (Terraform-style)", load: () => import("./commands/plan.ts") }],
  ["apply", { summary: "Make Reality match the World (fleet files or a saved plan)", load: () => import("./commands/apply.ts") }],
  ["reconcile", { summary: "Controller loop: plan and apply each allowed step (staged rollouts) until the World is reached", load: () => import("./commands/reconcile.ts") }],
  ["explain", { summary: "Explain what one device gets, and why", load: () => import("./commands/explain.ts") }],
  ["status", { summary: "Rollout status per deployment, or per device", load: () => import("./commands/status.ts") }],
  ["ui", { summary: "A live, read-only dashboard in the browser (local, NATS, Kubernetes)", load: () => import("./commands/ui.ts") }],
  ["validate", { summary: "Load and type-check fleet files; report conflicts and overlaps (offline)", load: () => import("./commands/validate.ts") }],
  ["force-unlock", { summary: "Remove a stuck apply lock (local state, or NATS with --backend nats)", load: () => import("./commands/force-unlock.ts") }],
  ["local", { summary: "Simulate devices on the local backend (demos and tests)", load: () => import("./commands/local.ts") }],
  ["agent", { summary: "Run the device agent", load: () => import("./commands/agent.ts") }],
  ["sim", { summary: "Simulate a fleet of agents against NATS", load: () => import("./commands/sim.ts") }],
  ["kube", { summary: "Kubernetes: install or print the CRDs, publish FleetDeployment status", load: () => import("./commands/kube.ts") }],
  ["keys", { summary: "Signing keys for desired state: generate, list, rotate, revoke", load: () => import("./commands/keys.ts") }],
  ["credentials", { summary: "Per-device NATS credentials (operator mode): init, issue, token, serve", load: () => import("./commands/credentials.ts") }],
  ["enroll", { summary: "On a device: exchange an enrollment token for its own NATS creds", load: () => import("./commands/enroll.ts") }],
];

export const help = (): string => `Usage: fleet <command> [flags] [args]

Declarative fleets of edge devices: fleet files declare a World (devices and
assignments of deployments); plan and apply make Reality (a backend) match it.

Commands:
${COMMANDS.map(([name, e]) => `  ${name.padEnd(13)} ${e.summary}`).join("\n")}

Flags:
  -h, --help     show help (also: fleet <command> --help)
  --version      print the version

Environment:
  FLEET_BACKEND, FLEET_STATE_DIR, FLEET_NATS_URL, FLEET_NATS_TOKEN   backend defaults
  NO_COLOR, FORCE_COLOR                                            colours (default: on for terminals)
  FLEET_DEBUG=1                                                    print stacks on errors

Exit codes: 0 success, 1 error, 2 changes present (plan --detailed-exitcode).
Documentation: docs/cli.md`;

const report = async (e: unknown, t: Terminal, json: boolean): Promise<number> => {
  const debug = process.env["FLEET_DEBUG"] === "1";
  const message = errorMessage(e);
  // Consumers of --json read stdout only: they get the error as a line too.
  if (json) t.out((await import("./JsonLines.ts")).error(message));
  const prefix = t.e.red(t.e.bold("Error:"));
  if (debug && e instanceof Error) t.err(`${prefix} ${e.stack ?? message}`);
  else if (isExpected(e)) t.err(`${prefix} ${message}`);
  else t.err(`${prefix} ${message} (an internal error: FLEET_DEBUG=1 prints the stack)`);
  return ExitCode.Error;
};

export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  const [first, ...rest] = argv;
  if (first === undefined) {
    t.err(help());
    return ExitCode.Error;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    if (first === "help" && rest[0] !== undefined) return main([rest[0], "--help"]);
    t.out(help());
    return ExitCode.Ok;
  }
  if (first === "--version" || first === "version") {
    t.out(`fleet ${VERSION} (node ${process.version})`);
    return ExitCode.Ok;
  }
  const entry = COMMANDS.find(([name]) => name === first)?.[1];
  if (entry === undefined) {
    const what = first.startsWith("-")
      ? `unknown flag ${first}${didYouMean(first, ["--help", "--version"])}`
      : `unknown command ${JSON.stringify(first)}${didYouMean(first, COMMANDS.map(([name]) => name))}`;
    t.err(`${t.e.red(t.e.bold("Error:"))} ${what} (see 'fleet --help')`);
    return ExitCode.Error;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (e) {
    const end = rest.indexOf("--");
    return await report(e, t, (end === -1 ? rest : rest.slice(0, end)).includes("--json"));
  }
};

/**
 * Runs `main` as the process: output that ends quietly when its reader goes
 * away, locks released on signals and crashes (Output.ts, Exit.ts), the exit
 * code set, stdout left to drain.
 */
export const runAsProcess = async (argv: ReadonlyArray<string>): Promise<void> => {
  guardProcessOutput();
  installExitHandlers((line) => void process.stderr.write(`${line}\n`));
  const code = await main(argv);
  process.exitCode = code;
  // If a library left a handle open, do not hang; an unref'd timer never keeps the process alive itself.
  setTimeout(() => process.exit(code), 2000).unref();
};

// `tsx src/cli/main.ts …` (the package's `npm run fleet -- …`) runs it directly.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await runAsProcess(process.argv.slice(2));
