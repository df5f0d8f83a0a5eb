/**
 * End to end: two deployments binding one host port on a device are a
 * conflict that `validate` and `plan` report (text and JSON) before anything
 * is applied; `apply` is refused and writes nothing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetFile, jsonLines, workspace, type Workspace } from "./support.ts";

const NT = "--no-typecheck";

describe("host-port clashes", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await workspace();
    // web binds 8080 on env=prod devices; this second deployment does too on pi-01.
    await ws.write("clash.ts", fleetFile({ extra: `, assign("@id=pi-01", deployment("api", podman({ services: [{ name: "app", image: "api:1", ports: [{ container: 3000, host: 8080 }] }] })))` }));
  });
  afterAll(async () => ws.cleanup());

  it("validate and plan report it; apply is refused and writes nothing", async () => {
    const v = await ws.fleet(["validate", "clash.ts"]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain("! pi-01: host port 8080/tcp is bound 2 times, by api/app, web/httpd; the device is left as it is");
    const plan = await ws.fleet(["plan", NT, "clash.ts"]);
    expect(plan.code).toBe(1);
    expect(plan.stdout.split("\n")[0]).toBe("Conflicts (1): apply is refused until they are resolved");
    expect(plan.stdout).not.toContain("# pi-01");
    const json = jsonLines((await ws.fleet(["plan", NT, "--json", "clash.ts"])).stdout);
    expect(json.filter((l) => l.type === "conflict")).toEqual([
      { type: "conflict", v: 1, kind: "host-port", device: "pi-01", protocol: "tcp", hostPort: 8080, bindings: [{ deployment: "api", service: "app" }, { deployment: "web", service: "httpd" }] },
    ]);
    expect(json.filter((l) => l.type === "skipped").map((l) => l["device"])).toEqual(["pi-01"]);
    const apply = await ws.fleet(["apply", NT, "--auto-approve", "clash.ts"]);
    expect(apply.code).toBe(1);
    expect(existsSync(join(ws.dir, ".fleet", "state.records"))).toBe(false);
  }, 180_000); // five CLI runs, one with the type check, on a shared machine
});
