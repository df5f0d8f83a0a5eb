/**
 * A staged rollout (docs/rollouts.md): twelve devices in three sites run
 * `web`; a new image reaches them in waves. The lab box goes first (the
 * canary), then a quarter of the rest, then the others; at most one device
 * per site is down at a time, and a wave that fails returns its devices to
 * the image they ran before.
 *
 *   npx fleet plan fleets/rollout.ts     # the schedule, before anything runs
 *   npx fleet status fleets/rollout.ts   # where it stands, wave by wave
 */
import { assign, deployment, device, podman, rollout, world } from "fleet-algebra";

const web = deployment(
  "web",
  podman({ services: [{ name: "httpd", image: "docker.io/library/httpd:2.4.63", ports: [{ container: 80, host: 8080 }], restart: "always" }] }),
  {
    rollout: rollout({
      waves: [{ selector: "site=lab", limit: 1 }, "25%"],
      maxUnavailable: 1,
      groupBy: ["site"],
      successThreshold: "100%",
      waveTimeout: "30m",
      onFailure: "rollback",
    }),
  },
);

const sites = ["lab", "north", "south"] as const;

export default world({
  fleet: Array.from({ length: 12 }, (_, i) => device(`pi-${String(i + 1).padStart(2, "0")}`, { labels: { site: sites[i % 3] as string }, arch: "aarch64" })),
  assignments: [assign("site", web)],
});
