/**
 * Child process for the crash test: applies a one-entry plan to the local
 * backend in STATE_DIR and kills itself (SIGKILL, no cleanup) after the new
 * state is written to its temporary file and before the rename, like a power
 * cut at the worst moment. Run with `node --import tsx`.
 */
import { deployment, podman, specHash } from "../../src/algebra/Deployment.ts";
import { unsafeDeploymentName, unsafeDeviceId } from "../../src/algebra/Name.ts";
import { local } from "../../src/interpreters/local/index.ts";

const stateDir = process.argv[2] as string;
const name = process.argv[3] ?? "crashed";
const spec = deployment(name, podman({ services: [{ name: "s", image: "i:1" }] }));
const interpreter = await local({
  stateDir,
  writeHooks: {
    beforeRename: (tmp) => {
      process.stdout.write(`${tmp}\n`);
      process.kill(process.pid, "SIGKILL");
    },
  },
});
await interpreter.apply({
  actions: [
    {
      _tag: "Create",
      device: unsafeDeviceId("pi-01"),
      deployment: unsafeDeploymentName(name),
      spec,
      specHash: specHash(spec),
      reason: { assignment: "a", selector: "@all", priority: 0 },
      presence: "online",
    },
  ],
});
