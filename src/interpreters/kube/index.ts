/**
 * `kube(options)`: the Kubernetes interpreter (work in progress; the public
 * shape below is stable, other modules depend on it).
 */
import type { Device } from "../../algebra/Device.ts";
import type { World } from "../../world/World.ts";
import { BackendUnavailableError, type Interpreter } from "../Interpreter.ts";

export interface KubeOptions {
  /** A kubeconfig file; default as kubectl: `KUBECONFIG`, `~/.kube/config`, in-cluster. */
  readonly kubeconfig?: string;
  /** A context of the kubeconfig; default its current context. */
  readonly context?: string;
  /** Default: the context's namespace, else `default`. */
  readonly namespace?: string;
  /** Take fields other field managers own instead of reporting a conflict. */
  readonly forceConflicts?: boolean;
}

export interface KubeInterpreter extends Interpreter {
  /** Installs or upgrades the CRDs and waits until they are Established. */
  installCrds(): Promise<void>;
  /** Publishes one FleetDeployment per deployment of the World, with its status. */
  syncStatus(world: World, now?: Date): Promise<void>;
  /** Device side: creates or updates Device objects as agents do, with a heartbeat at `at`. */
  register(devices: ReadonlyArray<Device>, at: Date): Promise<void>;
}

export const kube = async (_options: KubeOptions): Promise<KubeInterpreter> => {
  throw new BackendUnavailableError("the Kubernetes interpreter is not implemented yet");
};
