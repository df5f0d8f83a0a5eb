/**
 * The JetStream KV buckets of a fleet, their settings, and opening them.
 *
 * | bucket             | key                       | written by     | history |
 * |--------------------|---------------------------|----------------|---------|
 * | `desired-state`    | `<device>.<deployment>`   | control plane  | 5       |
 * | `device-info`      | `<device>`                | agent          | 1       |
 * | `device-state`     | `<device>.<deployment>`   | agent          | 1       |
 * | `device-heartbeat` | `<device>`                | agent          | 1       |
 * | `fleet-locks`      | `apply`                   | control plane  | 1       |
 * | `fleet-rollouts`   | `<deployment>.<hash>`     | control plane  | 5       |
 *
 * All are file-backed and created when missing with these settings (the
 * replica count is an option, for a clustered NATS); an existing bucket is
 * opened as it is, never reconfigured. When a replica count is asked for and
 * an existing bucket has another one, opening fails with one line that says
 * so: the bucket is neither changed silently nor used as if it had them.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import { BackendUnavailableError } from "../Interpreter.ts";
import { connectJetStream, type ConnectBehaviour, type ConnectionSettings } from "./Connection.ts";

export const BUCKET = {
  desired: "desired-state",
  info: "device-info",
  state: "device-state",
  heartbeat: "device-heartbeat",
  locks: "fleet-locks",
  rollouts: "fleet-rollouts",
} as const;

export type BucketRole = keyof typeof BUCKET;

/** History per key: desired-state keeps a short audit trail (`nats kv history`); the rest only the latest value. */
export const HISTORY: { readonly [R in BucketRole]: number } = {
  desired: 5,
  info: 1,
  state: 1,
  heartbeat: 1,
  locks: 1,
  rollouts: 5,
};

const DESCRIPTION: { readonly [R in BucketRole]: string } = {
  desired: "fleet-algebra: desired deployment per device (<device>.<deployment>), written by the control plane",
  info: "fleet-algebra: device registration (<device>), written by agents",
  state: "fleet-algebra: observed deployment state (<device>.<deployment>), written by agents",
  heartbeat: "fleet-algebra: agent heartbeats (<device>)",
  locks: "fleet-algebra: apply lock (compare-and-set)",
  rollouts: "fleet-algebra: staged rollout ledgers (<deployment>.<spec hash>), written by the control plane",
};

export type FleetBuckets = { readonly [R in BucketRole]: KV };

export interface BucketSettings {
  /**
   * JetStream replicas (1 to 5; 3 on a three-server cluster): newly created buckets get
   * them, and an existing bucket with another count is an error. Unset: buckets are
   * created with 1 and existing ones opened whatever their count.
   */
  readonly replicas?: number;
}

export const bucketOptions = (role: BucketRole, settings: BucketSettings): Partial<KvOptions> => ({
  history: HISTORY[role],
  replicas: settings.replicas ?? 1,
  storage: "file",
  description: DESCRIPTION[role],
});

/** The stream behind a bucket, for reads that bypass the KV view (bulk scans). */
export const streamOf = (bucket: string): string => `KV_${bucket}`;
/** The subject prefix of a bucket's keys, with the trailing dot. */
export const subjectPrefixOf = (bucket: string): string => `$KV.${bucket}.`;

const replicaMismatch = (bucket: string, found: number, wanted: number): BackendUnavailableError =>
  new BackendUnavailableError(
    `NATS bucket ${bucket} has ${found} replica${found === 1 ? "" : "s"}, but ${wanted} ${wanted === 1 ? "was" : "were"} asked for; ` +
      `it is left as it is: change it with \`nats stream edit ${streamOf(bucket)} --replicas ${wanted}\`, or ask for ${found}`,
  );

/** Opens (creating when missing) some buckets; with `replicas` set, checks that existing ones have them. */
export const openBuckets = async <R extends BucketRole>(
  js: JetStreamClient,
  roles: ReadonlyArray<R>,
  settings: BucketSettings = {},
): Promise<{ readonly [K in R]: KV }> => {
  const kvm = new Kvm(js);
  const opened = await Promise.all(
    roles.map(async (r) => {
      const kv = await kvm.create(BUCKET[r], bucketOptions(r, settings));
      if (settings.replicas !== undefined) {
        const found = (await kv.status()).replicas;
        if (found !== settings.replicas) throw replicaMismatch(BUCKET[r], found, settings.replicas);
      }
      return [r, kv] as const;
    }),
  );
  return Object.fromEntries(opened) as { readonly [K in R]: KV };
};

/** Binds existing buckets without any stream API call (for scoped device credentials): direct gets, no creation. */
export const bindBuckets = async <R extends BucketRole>(js: JetStreamClient, roles: ReadonlyArray<R>): Promise<{ readonly [K in R]: KV }> => {
  const kvm = new Kvm(js);
  const opened = await Promise.all(roles.map(async (r) => [r, await kvm.open(BUCKET[r], { allow_direct: true })] as const));
  return Object.fromEntries(opened) as { readonly [K in R]: KV };
};

export const ALL_ROLES: ReadonlyArray<BucketRole> = ["desired", "info", "state", "heartbeat", "locks", "rollouts"];

export const openFleetBuckets = (js: JetStreamClient, settings: BucketSettings = {}): Promise<FleetBuckets> =>
  openBuckets(js, ALL_ROLES, settings);

/**
 * Connects, opens (creating when missing) every fleet bucket with `settings`
 * (so a replica mismatch is reported here), and closes again: for a process
 * whose buckets are opened by code that takes no bucket settings (the agent).
 */
export const ensureFleetBuckets = async (connection: ConnectionSettings, settings: BucketSettings, behaviour: ConnectBehaviour = {}): Promise<void> => {
  const { nc, js } = await connectJetStream(connection, behaviour);
  try {
    await openFleetBuckets(js, settings);
  } finally {
    await nc.close().catch(() => undefined);
  }
};
