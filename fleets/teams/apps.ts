/**
 * The apps team's World: the shop on store devices, written as a function of
 * the registered inventory (the devices that reported to the backend) so the
 * canary can follow what is actually there.
 *
 * Teaches: a kubectl-syntax selector string, `and`/`hasLabel`, priorities
 * (an override that wins), and a World computed from the inventory.
 */
import { and, arch, assign, deployment, deviceIds, hasLabel, podman, world, type Device, type World } from "fleet-algebra";

const shop = (version: string) =>
  deployment(
    "shop",
    podman({
      services: [
        { name: "web", image: `registry.example.com/shop/web:${version}`, ports: [{ container: 8080, host: 80 }], env: { SHOP_MODE: "store" }, restart: "always" },
        { name: "cache", image: "docker.io/library/redis:7.2", restart: "always" },
      ],
    }),
  );

const cameraIngest = deployment(
  "camera-ingest",
  podman({ services: [{ name: "ingest", image: "registry.example.com/shop/camera-ingest:0.9", volumes: [{ source: "frames", target: "/var/lib/frames" }], restart: "on-failure" }] }),
);

/** One canary per site: the first registered production store device (by id) that is not quarantined. */
const canaries = (inventory: ReadonlyArray<Device>): string[] => {
  const bySite = new Map<string, string>();
  for (const d of inventory) {
    const site = d.labels["site"];
    if (d.labels["env"] !== "prod" || d.labels["store"] === undefined || d.labels["quarantine"] !== undefined || site === undefined) continue;
    if (!bySite.has(site)) bySite.set(site, d.id); // the inventory comes in id order
  }
  return [...bySite.values()];
};

export default (inventory: ReadonlyArray<Device>): World =>
  world({
    assignments: [
      // kubectl label-selector syntax: production and staging, but not quarantined devices.
      assign("env in (prod, staging), !quarantine", shop("1.4.2"), { name: "shop" }),
      // Berlin 02's payment terminal is only certified with 1.4.1: pinned, and the pin (20) beats the canary (10).
      assign("store=berlin-02", shop("1.4.1"), { name: "shop-berlin-02-pin", priority: 20 }),
      // The next version on one device per site, chosen from what registered (none: no canary).
      assign(deviceIds(canaries(inventory)), shop("1.5.0-rc.1"), { name: "shop-canary", priority: 10 }),
      assign(and(hasLabel("camera"), arch("aarch64")), cameraIngest, { name: "cameras" }),
    ],
  });
