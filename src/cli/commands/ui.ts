/**
 * `fleet ui FILE…`: a live, read-only dashboard of the fleet in a browser.
 * Serves one page and a JSON API over what `status`, `plan` and `explain`
 * compute, re-reads the backend on an interval and pushes a server-sent
 * event when anything shown changed. Stops cleanly on SIGINT or SIGTERM.
 */
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import * as E from "fp-ts/lib/Either.js";
import { DEFAULT_OFFLINE_AFTER_MS } from "../../diff/Diff.ts";
import { expectPositionals, orUsage, parseDuration, parseFlags, wantsHelp } from "../Args.ts";
import { backendConfig, backendFlags, backendHelp, describeBackend } from "../backends.ts";
import { CliError, UsageError } from "../CliError.ts";
import { ExitCode } from "../Command.ts";
import { checkTypes, withBackend } from "../Inputs.ts";
import { terminal } from "../Terminal.ts";
import { loadAssets, ownAssetsDir } from "../dashboard/Assets.ts";
import { startDashboard } from "../dashboard/Dashboard.ts";
import { isLoopback } from "../dashboard/Server.ts";
import { source } from "../dashboard/Source.ts";

export const DEFAULT_PORT = 7420;

export const help = `Usage: fleet ui [flags] FILE…

A live, read-only dashboard of the World the fleet files declare and what the
backend reports: per deployment the status counts as bars, the latest errors,
a device table filtered by a selector, each device's explanation (clause by
clause verdicts, shadowed assignments, desired vs observed) and the pending
plan. The page follows the backend without a reload. Nothing is ever written.

Flags:
  --port N                      port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --bind ADDR                   address to listen on (default 127.0.0.1, loopback only);
                                any other address requires a token
  --token TOKEN                 require this token on every request (generated when
                                --bind is not loopback and no token is given)
  --interval DURATION           how often to re-read the backend (default 2s)
  --offline-after DURATION      heartbeat age after which a device counts as offline (default 90s)
  --no-typecheck                do not type-check the fleet files first (faster)
  -h, --help                    show this help

${backendHelp}

Prints the URL to open (with the token, if any) and serves until Ctrl-C.
Exit codes: 0 stopped by SIGINT/SIGTERM, 1 error.`;

/** An IP address to bind: names are refused, so what is loopback is never a resolver's decision. */
export const parseBind = (text: string): E.Either<string, string> => {
  const host = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (host === "localhost") return E.right("127.0.0.1");
  return isIP(host) === 0 ? E.left(`--bind: expected an IP address such as 127.0.0.1 or 0.0.0.0, got ${JSON.stringify(text)}`) : E.right(host);
};

/** The token every request must carry: the given one; else a generated one when listening beyond loopback; else none. */
export const accessToken = (host: string, given: string | undefined, generate: () => string): { readonly token: string | undefined; readonly generated: boolean } =>
  given !== undefined ? { token: given, generated: false } : isLoopback(host) ? { token: undefined, generated: false } : { token: generate(), generated: true };

export const parsePort = (text: string): E.Either<string, number> =>
  /^\d{1,5}$/.test(text) && Number(text) <= 65_535 ? E.right(Number(text)) : E.left(`--port: expected a port number 0-65535, got ${JSON.stringify(text)}`);

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const t = terminal();
  if (wantsHelp(argv)) {
    t.out(help);
    return ExitCode.Ok;
  }
  const { values, positionals } = parseFlags("ui", argv, {
    ...backendFlags,
    help: { type: "boolean", short: "h" },
    port: { type: "string" },
    bind: { type: "string" },
    token: { type: "string" },
    interval: { type: "string" },
    "offline-after": { type: "string" },
    "no-typecheck": { type: "boolean" },
  });
  expectPositionals("ui", positionals, 1, Infinity, "fleet file (fleet ui FILE…)");
  const config = orUsage("ui", backendConfig(values));
  const port = values.port === undefined ? DEFAULT_PORT : orUsage("ui", parsePort(values.port));
  const host = values.bind === undefined ? "127.0.0.1" : orUsage("ui", parseBind(values.bind));
  const intervalMs = values.interval === undefined ? 2000 : orUsage("ui", parseDuration("--interval", values.interval));
  if (intervalMs < 100) throw new UsageError("--interval: must be at least 100ms (see 'fleet ui --help')");
  const offlineAfterMs = values["offline-after"] === undefined ? DEFAULT_OFFLINE_AFTER_MS : orUsage("ui", parseDuration("--offline-after", values["offline-after"]));
  if (values.token === "") throw new UsageError("--token: must not be empty (see 'fleet ui --help')");
  const { token, generated } = accessToken(host, values.token, () => randomBytes(24).toString("base64url"));
  const dir = ownAssetsDir();
  if (dir === undefined) throw new CliError("the dashboard's page is missing from this installation (src/cli/dashboard/assets)");
  const assets = await loadAssets(dir);
  if (values["no-typecheck"] !== true) await checkTypes(positionals, t, false);

  return withBackend(config, t, async (b) => {
    let stop: (signal: string) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => (stop = resolve));
    const onSignal = (signal: NodeJS.Signals): void => stop(signal);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const dashboard = await startDashboard({
        source: source(b.interpreter, positionals, offlineAfterMs),
        intervalMs,
        host,
        port,
        token,
        backend: describeBackend(config),
        assets,
        onReadError: (m) => t.err(`${t.e.yellow("Warning:")} cannot read the backend: ${m} (the page shows the last good data)`),
      });
      t.out(`Dashboard: ${dashboard.url}`);
      if (generated) t.err(`The dashboard listens on ${host}: the URL above carries a generated token; share it only with who may see the fleet.`);
      t.err("Read-only. Press Ctrl-C to stop.");
      const signal = await stopped;
      await dashboard.stop();
      t.err(`Stopped (${signal}).`);
      return ExitCode.Ok;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  });
};
