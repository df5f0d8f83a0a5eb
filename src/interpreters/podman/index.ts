/**
 * fleet-algebra/podman: run desired deployments on this host with podman.
 *
 * (Public shape first; the implementation lands in the modules next to this one.)
 */
import type { Interpreter } from "../Interpreter.ts";
import { BackendUnavailableError } from "../Interpreter.ts";
import type { Runtime } from "../Runtime.ts";

export interface PodmanRuntimeOptions {
  /** `unix:///path` or a bare path; default `$CONTAINER_HOST`, else `/run/podman/podman.sock`. */
  readonly socket?: string;
  /** containers.conf for a podman service this process starts itself. */
  readonly containersConf?: string;
}

export interface PodmanOptions {
  readonly socket?: string;
  /** Default: the host name, made a valid DNS label. */
  readonly deviceId?: string;
  readonly labels?: Record<string, string>;
  /** Default: from `os.arch()`, mapped to `uname -m` names (x86_64, aarch64). */
  readonly arch?: string;
}

export const podmanRuntime = async (_options: PodmanRuntimeOptions = {}): Promise<Runtime> => {
  throw new BackendUnavailableError("podman runtime: not implemented yet");
};

export const podmanBackend = async (_options: PodmanOptions = {}): Promise<Interpreter> => {
  throw new BackendUnavailableError("podman backend: not implemented yet");
};
