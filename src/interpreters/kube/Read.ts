/**
 * Reading Reality from the Device objects of one namespace.
 *
 * Contract: one list (paginated); every object decoded on its own. An object
 * that does not decode becomes a `ReadProblem` keyed `namespace/name`, and
 * when its name is a device id, that device lands in `reality.damaged`: its
 * entries are not evidence of anything, so the diff leaves it alone. A read
 * never aborts for bad data. When the CRD is not installed there is nothing
 * published yet: the Reality is empty. An unreachable or refusing server is
 * a `BackendUnavailableError`.
 */
import * as E from "fp-ts/lib/Either.js";
import type { DeviceId } from "../../algebra/Name.ts";
import { reality, type DesiredEntry, type ObservedState, type Reality, type ReportedDevice } from "../../diff/Reality.ts";
import { BackendUnavailableError, OrdReadProblemByKey, type ReadProblem } from "../Interpreter.ts";
import { formatFailure, type Api } from "./Api.ts";
import { DEVICE, crdName } from "./Crds.ts";
import { decodeDeviceObject, type DeviceObject } from "./DeviceObject.ts";

export interface DeviceSnapshot {
  readonly reality: Reality;
  readonly problems: ReadonlyArray<ReadProblem>;
  /** The decoded objects, by device id (damaged devices are absent). */
  readonly objects: ReadonlyMap<DeviceId, DeviceObject>;
}

export const readDevices = async (api: Api, namespace: string): Promise<DeviceSnapshot> => {
  const listed = await api.list(DEVICE, namespace);
  if (E.isLeft(listed)) {
    if (listed.left._tag === "NotFound") return { reality: reality({}), problems: [], objects: new Map() };
    throw new BackendUnavailableError(`listing ${crdName(DEVICE)} in namespace ${namespace}: ${formatFailure(listed.left)}`);
  }
  const objects = new Map<DeviceId, DeviceObject>();
  const problems: ReadProblem[] = [];
  const damaged: Array<readonly [DeviceId, string]> = [];
  for (const item of listed.right) {
    const d = decodeDeviceObject(item);
    if (E.isRight(d)) {
      objects.set(d.right.id, d.right);
      continue;
    }
    const p = d.left;
    const name = p._tag === "NotADevice" ? p.name : p.id;
    problems.push({ source: crdName(DEVICE), key: `${namespace}/${name}`, message: p.message });
    if (p._tag === "Unreadable") damaged.push([p.id, p.message]);
  }
  const devices: ReportedDevice[] = [];
  const desired: DesiredEntry[] = [];
  const observed: ObservedState[] = [];
  for (const o of objects.values()) {
    if (o.registration !== undefined) devices.push({ device: o.registration, ...(o.lastHeartbeat !== undefined ? { lastHeartbeat: o.lastHeartbeat } : {}) });
    for (const e of o.entries)
      desired.push({
        device: o.id,
        deployment: e.name,
        specHash: e.specHash,
        fingerprint: e.fingerprint,
        ...(e.spec !== undefined ? { spec: e.spec } : {}),
        ...(e.tampered !== undefined ? { tampered: e.tampered } : {}),
      });
    observed.push(...o.observed);
  }
  problems.sort(OrdReadProblemByKey.compare);
  return { reality: reality({ devices, desired, observed, damaged }), problems, objects };
};
