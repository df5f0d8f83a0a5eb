/**
 * Least privilege for device agents on Kubernetes: one ServiceAccount, Role
 * and RoleBinding per device, the Role limited by `resourceNames` to the
 * device's own Device object: it may read (and watch, with a field selector
 * on its name) its Device and write that Device's status; nothing else.
 *
 * Pure: a function of the device id and the namespace
 * (test/kube/rbac.test.ts applies it to a real kube-apiserver and checks
 * that device A's identity cannot change device B).
 */
import type { DeviceId } from "../../algebra/Name.ts";
import { DEVICE, GROUP } from "./Crds.ts";

/** The ServiceAccount a device's agent runs as. */
export const deviceServiceAccount = (id: DeviceId): string => `fleet-device-${id}`;

/** The Kubernetes user name of that ServiceAccount (what `kubectl --as` takes). */
export const deviceUser = (namespace: string, id: DeviceId): string => `system:serviceaccount:${namespace}:${deviceServiceAccount(id)}`;

export const deviceRbac = (namespace: string, id: DeviceId): ReadonlyArray<Record<string, unknown>> => {
  const name = deviceServiceAccount(id);
  const labels = { "app.kubernetes.io/managed-by": "fleet-algebra", [`${GROUP}/device`]: id };
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace, labels },
      rules: [
        { apiGroups: [GROUP], resources: [DEVICE.plural], resourceNames: [id], verbs: ["get", "list", "watch"] },
        { apiGroups: [GROUP], resources: [`${DEVICE.plural}/status`], resourceNames: [id], verbs: ["get", "patch", "update"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
  ];
};
