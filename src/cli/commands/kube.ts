/**
 * `fleet kube …`: Kubernetes housekeeping next to `plan` / `apply --backend kube`.
 *
 * - `install-crds`: installs or upgrades the Device and FleetDeployment CRDs
 *   and waits until they are Established;
 * - `print-crds`: writes them to stdout (YAML, or a JSON `List`), for
 *   `kubectl apply -f -` or a GitOps repository; needs no cluster;
 * - `sync-status FLEET.ts…`: publishes one FleetDeployment per deployment of
 *   the World with its status (an apply refreshes the status of those that
 *   exist; this creates, updates and prunes them).
 *
 * Failures the user can fix (no cluster configured, server unreachable, RBAC)
 * are thrown as named errors that `main` prints in one line.
 */
import { dumpYaml } from "@kubernetes/client-node";
import { expectPositionals, parseChoice, parseDeviceArg, orUsage, parseFlags, wantsHelp } from "../Args.ts";
import { ExitCode } from "../Command.ts";
import { UsageError } from "../CliError.ts";

export const help = `Usage:
  fleet kube install-crds [--kubeconfig FILE] [--context NAME] [-n NAMESPACE]
  fleet kube print-crds [-o yaml|json]
  fleet kube sync-status FLEET.ts... [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] [--force-conflicts]
  fleet kube rbac --device-id ID [-n NAMESPACE] [-o yaml|json]

Kubernetes view of the fleet: CRDs Device and FleetDeployment (fleet-algebra.dev/v1alpha1).

  install-crds   install or upgrade both CRDs (server-side apply, field manager
                 fleet-algebra) and wait until they are Established. An apply with
                 --backend kube does this by itself when they are missing or outdated.
  print-crds     write both CRDs to stdout: YAML documents (default) or a JSON List.
  sync-status    publish one FleetDeployment per deployment of the World in the
                 fleet files, with matched/published/succeeded/failed/pending counts;
                 delete those the World no longer has.
  rbac           print a ServiceAccount, Role and RoleBinding for one device's agent:
                 it may read its own Device and write its own Device status, nothing
                 else (kubectl apply -f -); needs no cluster.

Cluster (as kubectl): --kubeconfig, else KUBECONFIG, else ~/.kube/config, else the
in-cluster service account; no silent fallback to localhost.
  --kubeconfig FILE    --context NAME    -n, --namespace NAME (default: the context's, else default)
  --force-conflicts    take fields other field managers own (sync-status)`;

const clusterFlags = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n" },
} as const;

const out = (s: string): void => {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
};

const installCrds = async (argv: ReadonlyArray<string>): Promise<number> => {
  const { values, positionals } = parseFlags("kube install-crds", argv, clusterFlags);
  expectPositionals("kube install-crds", positionals, 0, 0, "");
  const { kube } = await import("../../interpreters/kube/index.ts");
  const k = await kube({ ...values });
  try {
    const names = await k.installCrds();
    out(`Installed ${names.join(", ")} (Established) on ${k.server}`);
    return ExitCode.Ok;
  } finally {
    await k.close();
  }
};

const printCrds = async (argv: ReadonlyArray<string>): Promise<number> => {
  const { values, positionals } = parseFlags("kube print-crds", argv, { output: { type: "string", short: "o" } });
  expectPositionals("kube print-crds", positionals, 0, 0, "");
  const format = orUsage("kube print-crds", parseChoice("-o", ["yaml", "json"] as const, values.output ?? "yaml"));
  const { crds } = await import("../../interpreters/kube/Crds.ts");
  if (format === "json") out(JSON.stringify({ apiVersion: "v1", kind: "List", items: crds() }, null, 2));
  else out(crds().map((c) => `---\n${dumpYaml(c, { noRefs: true, lineWidth: -1 })}`).join(""));
  return ExitCode.Ok;
};

const printRbac = async (argv: ReadonlyArray<string>): Promise<number> => {
  const { values, positionals } = parseFlags("kube rbac", argv, {
    "device-id": { type: "string" },
    namespace: { type: "string", short: "n" },
    output: { type: "string", short: "o" },
  });
  expectPositionals("kube rbac", positionals, 0, 0, "");
  if (values["device-id"] === undefined) throw new UsageError("fleet kube rbac: --device-id ID is required (see 'fleet kube --help')");
  const id = orUsage("kube rbac", parseDeviceArg("--device-id", values["device-id"]));
  const format = orUsage("kube rbac", parseChoice("-o", ["yaml", "json"] as const, values.output ?? "yaml"));
  const { deviceRbac } = await import("../../interpreters/kube/Rbac.ts");
  const objects = deviceRbac(values.namespace ?? "default", id);
  if (format === "json") out(JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2));
  else out(objects.map((o) => `---\n${dumpYaml(o, { noRefs: true, lineWidth: -1 })}`).join(""));
  return ExitCode.Ok;
};

const syncStatus = async (argv: ReadonlyArray<string>): Promise<number> => {
  const { values, positionals } = parseFlags("kube sync-status", argv, { ...clusterFlags, "force-conflicts": { type: "boolean" } });
  expectPositionals("kube sync-status", positionals, 1, Number.MAX_SAFE_INTEGER, "fleet file");
  const { kube } = await import("../../interpreters/kube/index.ts");
  const { loadFleetFiles } = await import("../FleetFile.ts");
  const { inventoryOf } = await import("../Inputs.ts");
  const { "force-conflicts": force, ...cluster } = values;
  const k = await kube({ ...cluster, forceConflicts: force === true });
  try {
    const { reality, problems } = await k.read();
    for (const p of problems) process.stderr.write(`Warning: skipped unreadable record ${p.source} ${p.key}: ${p.message}\n`);
    const { world } = await loadFleetFiles(positionals, inventoryOf(reality));
    const r = await k.syncStatus(world);
    out(`FleetDeployments in ${k.namespace}: ${r.written} written, ${r.deleted} deleted${r.problems.length > 0 ? `, ${r.problems.length} failed` : ""}`);
    for (const p of r.problems) process.stderr.write(`Error: ${p}\n`);
    return r.problems.length > 0 ? ExitCode.Error : ExitCode.Ok;
  } finally {
    await k.close();
  }
};

const SUBCOMMANDS: Readonly<Record<string, (argv: ReadonlyArray<string>) => Promise<number>>> = {
  "install-crds": installCrds,
  "print-crds": printCrds,
  "sync-status": syncStatus,
  rbac: printRbac,
};

export const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const [sub, ...rest] = argv;
  if (sub === undefined || ((sub === "--help" || sub === "-h") && rest.length === 0)) {
    out(help);
    return sub === undefined ? ExitCode.Error : ExitCode.Ok;
  }
  const f = SUBCOMMANDS[sub];
  if (f === undefined) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} of fleet kube (see 'fleet kube --help')`);
  if (wantsHelp(rest)) {
    out(help);
    return ExitCode.Ok;
  }
  return f(rest);
};
