/**
 * The platform team's World: the devices (the inventory of record: what was
 * installed where) and the base services every device runs.
 *
 * Teaches: declaring a fleet, `all`, an arch selector, a label selector.
 */
import { all, arch, assign, deployment, device, label, podman, world } from "fleet-algebra";

export const devices = [
  device("pi-berlin-01", { labels: { env: "prod", site: "berlin", store: "berlin-01", camera: "true" }, arch: "aarch64" }),
  device("pi-berlin-02", { labels: { env: "prod", site: "berlin", store: "berlin-02" }, arch: "aarch64" }),
  device("pi-paris-01", { labels: { env: "prod", site: "paris", store: "paris-01", camera: "true" }, arch: "aarch64" }),
  // Quarantined (flaky SD card): keeps the base services, loses the apps (see apps.ts).
  device("pi-paris-02", { labels: { env: "prod", site: "paris", store: "paris-02", quarantine: "true" }, arch: "aarch64" }),
  device("nuc-paris-01", { labels: { env: "prod", site: "paris", role: "gateway" }, arch: "x86_64" }),
  device("pi-lab-01", { labels: { env: "staging", site: "lab" }, arch: "aarch64" }),
  device("vm-lab-01", { labels: { env: "staging", site: "lab" }, arch: "x86_64" }),
];

const nodeExporter = deployment(
  "node-exporter",
  podman({
    services: [
      {
        name: "exporter",
        image: "quay.io/prometheus/node-exporter:v1.8.2",
        ports: [{ container: 9100 }],
        volumes: [{ source: "/", target: "/host", readOnly: true }],
        command: ["--path.rootfs=/host"],
        restart: "always",
      },
    ],
  }),
);

// Raspberry Pis need their fan curve managed; x86 boxes do it in firmware.
const fanControl = deployment(
  "fan-control",
  podman({ services: [{ name: "fan", image: "registry.example.com/platform/pi-fan:2.1", env: { TARGET_CELSIUS: "60" }, restart: "always" }] }),
);

// The Paris gateway bridges the store devices' MQTT to the cloud.
const mqttBridge = deployment(
  "mqtt-bridge",
  podman({ services: [{ name: "mosquitto", image: "docker.io/library/eclipse-mosquitto:2.0", ports: [{ container: 1883 }], restart: "always" }] }),
);

export default world({
  fleet: devices,
  assignments: [
    assign(all, nodeExporter, { name: "base-metrics" }),
    assign(arch("aarch64"), fanControl, { name: "pi-fans" }),
    assign(label("role", "gateway"), mqttBridge, { name: "gateways" }),
  ],
});
