/**
 * Which cluster to talk to, found as kubectl finds it: an explicit
 * kubeconfig file, else the files in `KUBECONFIG` (merged, first wins), else
 * `~/.kube/config`, else the in-cluster service account.
 *
 * Contract: when none of these exists, `resolveCluster` throws a
 * `BackendUnavailableError` saying so. The client library would otherwise
 * fall back, silently, to `http://localhost:8080`; we never do.
 * The namespace is the option, else the context's, else the service
 * account's (in cluster), else `default`.
 */
import * as S from "fp-ts/lib/string.js";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { BackendUnavailableError } from "../Interpreter.ts";
import { errorMessage } from "../../algebra/ErrorMessage.ts";

export interface ClusterOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
}

export interface ResolvedCluster {
  readonly config: KubeConfig;
  readonly server: string;
  readonly context: string;
  readonly namespace: string;
  /** Where the configuration came from, for messages: a file list or `in-cluster`. */
  readonly source: string;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

export type Environment = Readonly<Record<string, string | undefined>>;

const load = (files: ReadonlyArray<string>): KubeConfig => {
  const config = new KubeConfig();
  try {
    config.loadFromFile(files[0] as string);
    for (const f of files.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(f);
      // As kubectl: the first file that sets the current context wins.
      config.mergeConfig(more, true);
    }
  } catch (e) {
    throw new BackendUnavailableError(`cannot load kubeconfig ${files.join(delimiter)}: ${errorMessage(e)}`);
  }
  return config;
};

const NO_CLUSTER =
  "no Kubernetes cluster configured: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config " +
  "(refusing the client library's silent fallback to http://localhost:8080)";

/** Finds the kubeconfig as kubectl does, or throws a `BackendUnavailableError` saying none is configured. */
export const resolveCluster = (options: ClusterOptions, env: Environment = process.env): ResolvedCluster => {
  let config: KubeConfig;
  let source: string;
  let inCluster = false;
  if (options.kubeconfig !== undefined) {
    if (!existsSync(options.kubeconfig)) throw new BackendUnavailableError(`kubeconfig ${options.kubeconfig} does not exist`);
    config = load([options.kubeconfig]);
    source = options.kubeconfig;
  } else if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== "") {
    const listed = env.KUBECONFIG.split(delimiter).filter((f) => f !== "");
    const files = listed.filter((f) => existsSync(f));
    if (files.length === 0) throw new BackendUnavailableError(`KUBECONFIG names no existing file (${env.KUBECONFIG})`);
    config = load(files);
    source = files.join(delimiter);
  } else {
    const home = env.HOME ?? homedir();
    const file = join(home, ".kube", "config");
    if (existsSync(file)) {
      config = load([file]);
      source = file;
    } else if (env.KUBERNETES_SERVICE_HOST !== undefined && existsSync(`${SERVICE_ACCOUNT}/token`)) {
      config = new KubeConfig();
      config.loadFromCluster();
      source = "in-cluster";
      inCluster = true;
    } else {
      throw new BackendUnavailableError(NO_CLUSTER);
    }
  }

  if (options.context !== undefined) {
    if (config.getContextObject(options.context) === null) {
      const known = config.getContexts().map((c) => c.name).sort(S.Ord.compare);
      throw new BackendUnavailableError(
        `kubeconfig ${source} has no context ${JSON.stringify(options.context)} (contexts: ${known.length > 0 ? known.join(", ") : "none"})`,
      );
    }
    config.setCurrentContext(options.context);
  }
  const cluster = config.getCurrentCluster();
  if (cluster === null) {
    const current = config.getCurrentContext();
    throw new BackendUnavailableError(
      current === undefined || current === ""
        ? `kubeconfig ${source} has no current context; pass --context`
        : `kubeconfig ${source}: context ${JSON.stringify(current)} names no known cluster`,
    );
  }
  const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
  const serviceAccountNamespace = inCluster && existsSync(`${SERVICE_ACCOUNT}/namespace`) ? readFileSync(`${SERVICE_ACCOUNT}/namespace`, "utf8").trim() : undefined;
  return {
    config,
    server: cluster.server,
    context: config.getCurrentContext(),
    namespace: options.namespace ?? (contextNamespace !== undefined && contextNamespace !== "" ? contextNamespace : undefined) ?? serviceAccountNamespace ?? "default",
    source,
  };
};
