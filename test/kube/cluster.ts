/**
 * Shared set-up of the Kubernetes tests: one real kube-apiserver per test
 * file (test/support/kube-apiserver.ts), one fresh namespace per test, and
 * interpreters bound to it.
 */
import { startKubeApiServer, type KubeApiServer } from "../support/kube-apiserver.ts";
import { kube, type KubeInterpreter, type KubeOptions } from "../../src/interpreters/kube/index.ts";

export interface TestCluster {
  readonly server: KubeApiServer;
  /** Creates a namespace with a unique name built from `prefix`. */
  namespace(prefix: string): Promise<string>;
  interpreter(namespace: string, options?: Omit<KubeOptions, "kubeconfig" | "namespace">): Promise<KubeInterpreter>;
  /** kubectl that fails the test on a non-zero exit; returns stdout. */
  kubectl(args: ReadonlyArray<string>, input?: string): Promise<string>;
  stop(): Promise<void>;
}

export const startCluster = async (): Promise<TestCluster> => {
  const server = await startKubeApiServer();
  let n = 0;
  const kubectl = async (args: ReadonlyArray<string>, input?: string): Promise<string> => {
    const r = await server.kubectl([...args], input !== undefined ? { input } : {});
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  return {
    server,
    namespace: async (prefix) => {
      const name = `${prefix}-${++n}`;
      await kubectl(["create", "namespace", name]);
      return name;
    },
    interpreter: (namespace, options = {}) => kube({ kubeconfig: server.kubeconfigPath, namespace, ...options }),
    kubectl,
    stop: () => server.stop(),
  };
};

/** Rows of `kubectl get … -o wide` as objects keyed by column header. */
export const table = (text: string): ReadonlyArray<Readonly<Record<string, string>>> => {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const header = lines[0];
  if (header === undefined) return [];
  // Columns start where a header word starts; cells are cut at those offsets.
  const starts: number[] = [];
  for (let i = 0; i < header.length; i++) if (header[i] !== " " && (i === 0 || header[i - 1] === " ")) starts.push(i);
  const names = starts.map((s, j) => header.slice(s, starts[j + 1] ?? header.length).trim());
  return lines.slice(1).map((l) => Object.fromEntries(names.map((name, j) => [name, l.slice(starts[j], starts[j + 1] ?? l.length).trim()])));
};
