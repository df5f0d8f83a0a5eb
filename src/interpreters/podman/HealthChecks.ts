/**
 * Runs the health checks of the containers an agent manages, on their
 * intervals, and remembers podman's verdict of each.
 *
 * Why here: podman schedules a container's health checks with a systemd
 * timer; on a device without systemd (containers, minimal images) nothing
 * runs them, and the container stays `starting` forever. So the runtime asks
 * podman to run each check (`GET /libpod/containers/{id}/healthcheck`, what
 * `podman healthcheck run` does): podman itself runs the command with its
 * timeout, applies the start period and the retry count, and records the
 * verdict in the container. That answer is only the one run's result (a
 * single failure says `unhealthy`), so the verdict is then read from the
 * container (`State.Health.Status` of inspect), where `podman inspect` and
 * `podman ps` read it too. Where systemd does run them as well, an extra run
 * only refreshes the verdict.
 *
 * Contract:
 * - `track(targets)` makes the set of checked containers exactly `targets`
 *   (a container id not seen before is checked at once, then every
 *   `intervalSeconds` after the previous run ended: runs of one container
 *   never overlap); containers no longer listed stop being checked;
 * - `verdicts()` is the last verdict per tracked container id, `starting`
 *   before the first run ended or when podman's answer is not understood
 *   (not known to be healthy);
 * - a check podman cannot run (container gone or stopped) leaves the verdict
 *   as it was; the next reconcile or status read re-tracks what runs;
 * - `close()` stops every timer; timers never keep the process alive.
 */
import * as t from "io-ts";
import { isRight } from "fp-ts/lib/Either.js";
import type { HealthCheck } from "../../algebra/Deployment.ts";
import type { Health } from "../../diff/Reality.ts";
import type { LibpodClient } from "./LibpodClient.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

export interface HealthTarget {
  readonly id: string;
  readonly check: HealthCheck;
}

export interface HealthChecks {
  track(targets: ReadonlyArray<HealthTarget>): void;
  verdicts(): ReadonlyMap<string, Health>;
  close(): void;
}

// The container's recorded health in inspect, permissively (podman 4 names it `Health`, older ones `Healthcheck`).
const HealthState = t.partial({ Status: t.string });
const InspectHealth = t.partial({ State: t.partial({ Health: HealthState, Healthcheck: HealthState }) });

const healthOf = (status: string | undefined): Health => (status === "healthy" || status === "unhealthy" ? status : "starting");

/** The verdict podman recorded in a container's inspect; `starting` for anything not understood (not known healthy). */
export const decodeInspectHealth = (u: unknown): Health => {
  const r = InspectHealth.decode(u);
  return isRight(r) ? healthOf(r.right.State?.Health?.Status ?? r.right.State?.Healthcheck?.Status) : "starting";
};

// -------------------------------------------------------------------------------------
// the scheduler
// -------------------------------------------------------------------------------------

interface Tracked {
  readonly check: HealthCheck;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  verdict: Health;
}

export const healthChecks = (client: LibpodClient): HealthChecks => {
  const tracked = new Map<string, Tracked>();

  const runOnce = async (id: string, entry: Tracked): Promise<void> => {
    try {
      // podman runs the command with the check's own timeout; allow it that long plus a margin.
      const path = `/containers/${encodeURIComponent(id)}`;
      const ran = await client.request(`${path}/healthcheck`, { timeoutMs: (entry.check.timeoutSeconds + 10) * 1000 });
      const inspected = ran.ok ? await client.request(`${path}/json`) : undefined;
      if (inspected?.ok === true) entry.verdict = decodeInspectHealth(inspected.body);
    } catch {
      // podman unreachable: the verdict stays; status reads report the outage their own way.
    }
    if (!entry.stopped) schedule(id, entry, entry.check.intervalSeconds * 1000);
  };

  const schedule = (id: string, entry: Tracked, ms: number): void => {
    entry.timer = setTimeout(() => void runOnce(id, entry), ms);
    entry.timer.unref();
  };

  const stop = (entry: Tracked): void => {
    entry.stopped = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
  };

  return {
    track: (targets) => {
      const wanted = new Map(targets.map((x) => [x.id, x.check]));
      for (const [id, entry] of tracked)
        if (!wanted.has(id)) {
          stop(entry);
          tracked.delete(id);
        }
      for (const [id, check] of wanted) {
        if (tracked.has(id)) continue;
        const entry: Tracked = { check, timer: undefined, stopped: false, verdict: "starting" };
        tracked.set(id, entry);
        schedule(id, entry, 0);
      }
    },
    verdicts: () => new Map([...tracked].map(([id, e]) => [id, e.verdict])),
    close: () => {
      for (const e of tracked.values()) stop(e);
      tracked.clear();
    },
  };
};
