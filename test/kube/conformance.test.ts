/**
 * The Kubernetes interpreter runs the interpreter conformance suite against
 * the in-memory reference, on a real kube-apiserver 1.20. `reset` deletes
 * every Device and FleetDeployment of the suite's namespace.
 */
import { afterAll, beforeAll, describe } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { makeApi, formatFailure, type Api } from "../../src/interpreters/kube/Api.ts";
import { resolveCluster } from "../../src/interpreters/kube/Cluster.ts";
import { DEVICE, FLEET_DEPLOYMENT } from "../../src/interpreters/kube/Crds.ts";
import type { KubeInterpreter } from "../../src/interpreters/kube/index.ts";
import { DeploymentCodec } from "../../src/algebra/Deployment.ts";
import { conformanceSuite, type ConformanceSubject } from "../laws/conformance.ts";
import { startCluster, type TestCluster } from "./cluster.ts";

describe("kube interpreter", () => {
  let cluster: TestCluster;
  let interpreter: KubeInterpreter;
  let api: Api;
  let namespace: string;

  beforeAll(async () => {
    cluster = await startCluster();
    namespace = await cluster.namespace("conformance");
    interpreter = await cluster.interpreter(namespace);
    await interpreter.installCrds();
    const c = resolveCluster({ kubeconfig: cluster.server.kubeconfigPath });
    api = makeApi(c.config, c.server);
  });
  afterAll(async () => {
    await interpreter?.close();
    await cluster?.stop();
  });

  const subject: ConformanceSubject = {
    get interpreter() {
      return interpreter;
    },
    register: (devices, at) => interpreter.register(devices, at),
    report: (states) => interpreter.report(states),
    reset: async () => {
      for (const r of [DEVICE, FLEET_DEPLOYMENT]) {
        const done = await api.removeAll(r, namespace);
        if (E.isLeft(done)) throw new Error(`reset: ${formatFailure(done.left)}`);
      }
    },
    // Another field manager replaces the spec inside the Device's desired entry and keeps its specHash.
    tamper: async (e, forged) => {
      const obj = JSON.parse(await cluster.kubectl(["get", "device", e.device, "-n", namespace, "-o", "json"])) as { spec: { deployments: Array<Record<string, unknown>> } };
      const deployments = obj.spec.deployments.map((d) => (d["name"] === e.deployment ? { ...d, spec: DeploymentCodec.encode(forged) } : d));
      await cluster.kubectl(["replace", "-n", namespace, "-f", "-"], JSON.stringify({ ...obj, spec: { ...obj.spec, deployments } }));
    },
  };
  conformanceSuite("kube", () => subject, { numRuns: 20, ledgers: false });
});
