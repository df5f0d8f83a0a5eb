/**
 * A small fleet that runs with no server: `npx fleet apply --auto-approve fleets/demo.ts`
 * writes its desired state to the local backend (`.fleet/` in the current directory).
 *
 * Five devices in two sites; every device runs a metrics exporter. The
 * production Raspberry Pis serve the web app (httpd 2.4.62), except that a
 * higher-priority canary gives the newer image (2.4.63) to every `site=south`
 * device: pi-03, and nuc-01, a lab box that serves web only through the
 * canary. The other lab box, vm-01, gets no web (`fleet explain fleets/demo.ts
 * vm-01` says why).
 */
import { arch, assign, deployment, device, label, podman, world } from "fleet-algebra";

const metrics = deployment(
  "metrics",
  podman({ services: [{ name: "node-exporter", image: "quay.io/prometheus/node-exporter:v1.8.2", ports: [{ container: 9100 }], restart: "always" }] }),
);

const web = (tag: string) =>
  deployment(
    "web",
    podman({
      services: [
        { name: "httpd", image: `docker.io/library/httpd:${tag}`, ports: [{ container: 80, host: 8080 }], restart: "always" },
      ],
    }),
  );

export default world({
  fleet: [
    device("pi-01", { labels: { env: "prod", site: "north" }, arch: "aarch64" }),
    device("pi-02", { labels: { env: "prod", site: "north" }, arch: "aarch64" }),
    device("pi-03", { labels: { env: "prod", site: "south" }, arch: "aarch64" }),
    device("nuc-01", { labels: { env: "lab", site: "south" }, arch: "x86_64" }),
    device("vm-01", { labels: { env: "lab" }, arch: "x86_64" }),
  ],
  assignments: [
    assign("env=prod", web("2.4.62"), { name: "prod-web" }),
    assign(label("site", "south"), web("2.4.63"), { name: "south-canary", priority: 10 }),
    assign(arch("aarch64"), metrics, { name: "arm-metrics" }),
    assign("env=lab, @arch=x86_64", metrics, { name: "lab-metrics" }),
  ],
});
