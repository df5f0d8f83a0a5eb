/**
 * `fleet force-unlock LOCK_ID`: removes the local backend's lock after a
 * process died holding it, like `terraform force-unlock`; with `--backend
 * nats`, breaks the NATS apply lock of a dead holder before its TTL runs out.
 * The id must match the lock's (so an old command line never removes a newer
 * lock); it asks for confirmation on a terminal unless `--force`, and needs
 * `--force` when stdin is not a terminal.
 */
import type { LockState } from "../../interpreters/local/index.ts";
import { expectPositionals, orUsage, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, natsFlags, openBackend, type BackendValues } from "../backends.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";
import { CliError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { confirm } from "../Confirm.ts";
import { terminal } from "../Terminal.ts";

export const help = `Usage: fleet force-unlock [flags] LOCK_ID
       fleet force-unlock --backend nats --nats URL [flags] LOCK_ID

Removes the lock of the local backend's state when the process that held it
is gone (killed, crashed). LOCK_ID is printed by the command that found the
state locked, and by \`fleet local info\`. Only remove a lock when no apply is
running: two applies at once can each undo the other's writes. A lock file
that cannot be read at all is removed with LOCK_ID \`unreadable\`.

With --backend nats it breaks the NATS apply lock (fleet-locks/apply) whose
lock ID is LOCK_ID, printed by the apply that found it held. A dead holder's
lock also expires by itself 30 s after its last renewal; break it only when
you know its holder is gone.

Flags:
  --backend local|nats  which lock (default local; env FLEET_BACKEND)
  --state-dir DIR       local: the state directory (env FLEET_STATE_DIR, default .fleet)
  --nats URL…           nats: the server, and the other --nats-* connection flags of \`fleet apply --help\`
  --force               do not ask for confirmation (required when stdin is not a terminal)
  -h, --help            show this help

Exit codes: 0 unlocked, 1 error (not locked, another lock ID, cancelled).`;

export const describeLockState = (s: LockState): string => {
  switch (s._tag) {
    case "Free":
      return "not locked";
    case "Unreadable":
      return `a lock file that cannot be read (${s.reason}); lock ID to remove it: unreadable`;
    case "Held":
      return `held by ${s.info.who}@${s.info.host} (pid ${s.info.pid}, ${s.info.operation}, since ${s.info.created}); lock ID ${s.info.id}`;
  }
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("force-unlock", argv, {
    help: { type: "boolean", short: "h" },
    backend: { type: "string" },
    "state-dir": { type: "string" },
    ...natsFlags,
    force: { type: "boolean" },
  });
  expectPositionals("force-unlock", positionals, 1, 1, "LOCK_ID (fleet force-unlock LOCK_ID)");
  const id = positionals[0] as string;
  const { force, help: _help, ...backendValues } = values;
  const config = orUsage("force-unlock", backendConfig(backendValues as BackendValues));
  if (config._tag === "nats") return breakNatsLock(config, id, force === true);
  if (config._tag !== "local") throw new CliError(`the ${config._tag} backend has no lock to remove`);
  const { local } = await openBackend(config);
  if (local === undefined) throw new CliError("internal: the local backend did not open as local");
  const state = await local.lockState();
  if (state._tag === "Free") throw new CliError(`the state in ${local.stateDir} is not locked`);
  if (values.force !== true) {
    if (!t.stdinIsTTY) throw new CliError("refusing to force-unlock without confirmation: stdin is not a terminal (pass --force)");
    t.err(`The lock is ${describeLockState(state)}.`);
    if (!(await confirm("Do you really want to force-unlock? No apply may be running."))) {
      t.err("Unlock cancelled.");
      return ExitCode.Error;
    }
  }
  await local.forceUnlock(id);
  t.out(`${t.o.green("Unlocked.")} The state in ${local.stateDir} is no longer locked (lock ID ${id} removed).`);
  return ExitCode.Ok;
};

/** `--backend nats`: breaks the NATS apply lock whose ID is `id`. */
const breakNatsLock = async (config: Parameters<typeof openBackend>[0], id: string, force: boolean): Promise<number> => {
  const t = terminal();
  const { interpreter, nats } = await openBackend(config);
  try {
    if (nats === undefined) throw new CliError("internal: the NATS backend did not open as nats");
    const holder = await nats.lockHolder();
    if (holder === undefined) throw new CliError("the NATS apply lock is not held");
    if (!force) {
      if (!t.stdinIsTTY) throw new CliError("refusing to force-unlock without confirmation: stdin is not a terminal (pass --force)");
      t.err(`The NATS apply lock is held by ${holder.owner} until ${holder.expires.toISOString()}; lock ID ${holder.id}.`);
      if (!(await confirm("Do you really want to break it? Its holder must be dead."))) {
        t.err("Unlock cancelled.");
        return ExitCode.Error;
      }
    }
    let broken;
    try {
      broken = await nats.breakLock(id);
    } catch (e) {
      if (e instanceof Error && e.name === "LockBreakError") throw new CliError(e.message);
      throw new CliError(`NATS: breaking the apply lock failed: ${errorMessage(e)}`);
    }
    t.out(`${t.o.green("Unlocked.")} The NATS apply lock held by ${broken.owner} is broken (lock ID ${id} removed).`);
    return ExitCode.Ok;
  } finally {
    await interpreter.close();
  }
};
