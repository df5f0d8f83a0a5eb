/**
 * fleet-algebra/podman: run desired deployments on this host with podman,
 * through the libpod REST API of a `podman system service` (docs/podman.md).
 *
 * - `podmanRuntime`: the `Runtime` an agent drives (`fleet agent --runtime podman`);
 * - `podmanBackend`: an `Interpreter` for one device, this host
 *   (`fleet apply --backend podman FILE`).
 *
 * Both take `socket` (default `$CONTAINER_HOST`, else the rootful/rootless
 * default). A service is started only with `startService: true`;
 * `containersConf` and `podmanArgs` apply to that self-started service only.
 */
export { podmanRuntime, type PodmanRuntime, type PodmanRuntimeOptions } from "./PodmanRuntime.ts";
export { podmanBackend, type PodmanBackend, type PodmanOptions } from "./PodmanBackend.ts";
export { type PodmanServiceOptions } from "./PodmanService.ts";
export { type PullPolicy, type ReconcilerOptions } from "./Reconciler.ts";
export { defaultSocket } from "./LibpodClient.ts";
export { hostDeviceId, unameArch } from "./HostDevice.ts";
export {
  containerName,
  LABEL_MANAGED,
  LABEL_DEPLOYMENT,
  LABEL_SERVICE,
  LABEL_SPEC_HASH,
  LABEL_SERVICES,
} from "./ContainerSpec.ts";
