/**
 * The device side of the Device object, as an agent (or a bridge from the
 * NATS `device-info` / `device-heartbeat` / `device-state` buckets, which are
 * the source of truth for registration in production) writes it. Tests and
 * demos use it to play the fleet.
 *
 * - `register`: server-side apply of the registration fields under the
 *   field manager `fleet-agent`, forced (a device's own facts are its own:
 *   a hand edit of them is overwritten at the next registration), then a
 *   heartbeat;
 * - `heartbeat`: a JSON merge patch of `status.lastHeartbeat` only;
 * - `report`: the observed state merged into `status.deployments` by name,
 *   conditional on the resourceVersion read (retried if it moved).
 *
 * Failures are collected per device and thrown together at the end, as one
 * `AgentWriteError` naming each device.
 */
import * as S from "fp-ts/lib/string.js";
import * as E from "fp-ts/lib/Either.js";
import type { Device } from "../../algebra/Device.ts";
import type { DeviceId } from "../../algebra/Name.ts";
import type { ObservedState } from "../../diff/Reality.ts";
import { formatFailure, type Api } from "./Api.ts";
import { DEVICE } from "./Crds.ts";
import { decodeDeviceObject, encodeObserved, observedSummary, registrationConfig } from "./DeviceObject.ts";
import { AGENT } from "./FieldOwners.ts";
import { forEachConcurrently } from "../Pool.ts";

export class AgentWriteError extends Error {
  override readonly name = "AgentWriteError";
}

export interface AgentContext {
  readonly api: Api;
  readonly namespace: string;
  readonly concurrency: number;
}

const MAX_ROUNDS = 8;

const collect = async <A>(ctx: AgentContext, items: ReadonlyArray<A>, key: (a: A) => string, write: (a: A) => Promise<string | undefined>): Promise<void> => {
  const errors: string[] = [];
  await forEachConcurrently(items, ctx.concurrency, async (a) => {
    const e = await write(a);
    if (e !== undefined) errors.push(`${key(a)}: ${e}`);
  });
  if (errors.length > 0) throw new AgentWriteError(errors.sort(S.Ord.compare).join("; "));
};

const beat = async (ctx: AgentContext, id: DeviceId, at: Date): Promise<string | undefined> => {
  const r = await ctx.api.mergeStatus(DEVICE, ctx.namespace, id, { status: { lastHeartbeat: at.toISOString() } }, AGENT);
  return E.isLeft(r) ? `heartbeat: ${formatFailure(r.left)}` : undefined;
};

export const register = (ctx: AgentContext, devices: ReadonlyArray<Device>, at: Date): Promise<void> =>
  collect(ctx, devices, (d) => d.id, async (d) => {
    const r = await ctx.api.apply(DEVICE, ctx.namespace, d.id, registrationConfig(d, ctx.namespace), AGENT, true);
    if (E.isLeft(r)) return `register: ${formatFailure(r.left)}`;
    return beat(ctx, d.id, at);
  });

export const heartbeat = (ctx: AgentContext, ids: ReadonlyArray<DeviceId>, at: Date): Promise<void> =>
  collect(ctx, ids, (id) => id, (id) => beat(ctx, id, at));

export const report = (ctx: AgentContext, states: ReadonlyArray<ObservedState>): Promise<void> => {
  const byDevice = new Map<DeviceId, ObservedState[]>();
  for (const s of states) byDevice.set(s.device, [...(byDevice.get(s.device) ?? []), s]);
  return collect(ctx, [...byDevice], ([id]) => id, async ([id, reported]) => {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const got = await ctx.api.get(DEVICE, ctx.namespace, id);
      if (E.isLeft(got)) return `report: ${formatFailure(got.left)}`;
      const d = decodeDeviceObject(got.right);
      if (E.isLeft(d)) return `report: the Device object is unreadable: ${d.left.message}`;
      const merged = new Map(d.right.observed.map((o) => [o.deployment as string, o]));
      for (const s of reported) merged.set(s.deployment, s);
      const all = [...merged.keys()].sort(S.Ord.compare).map((k) => merged.get(k) as ObservedState);
      const body = { metadata: { resourceVersion: d.right.resourceVersion }, status: { deployments: all.map(encodeObserved), summary: observedSummary(all) } };
      const r = await ctx.api.mergeStatus(DEVICE, ctx.namespace, id, body, AGENT);
      if (E.isRight(r)) return undefined;
      if (r.left._tag !== "Modified") return `report: ${formatFailure(r.left)}`;
    }
    return `report: gave up after ${MAX_ROUNDS} attempts: the Device object kept changing`;
  });
};
