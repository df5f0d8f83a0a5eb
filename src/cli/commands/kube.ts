/**
 * `fleet kube …`: Kubernetes housekeeping (work in progress).
 */
export const help = `fleet kube install-crds [--kubeconfig FILE] [--context NAME] [-n NAMESPACE]
fleet kube print-crds [-o yaml|json]`;

export const run = async (_argv: ReadonlyArray<string>): Promise<number> => {
  process.stderr.write("fleet kube: not implemented yet\n");
  return 1;
};
