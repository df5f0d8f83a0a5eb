/**
 * The names the package root promises (issue: "tests outside this repository
 * use them"), with the fixed signatures exercised once each.
 */
import { describe, expect, it } from "vitest";
import * as api from "../../src/index.ts";

const promised = [
  "label", "labelNotEquals", "labelIn", "labelNotIn", "hasLabel", "lacksLabel", "labelGt", "labelLt", "arch", "deviceIds",
  "all", "none", "and", "or", "not", "matches", "explain", "parseSelector", "printSelector", "toLabelSelector",
  "fromLabelSelector", "SelectorBooleanAlgebra", "device", "deployment", "podman", "assign", "world", "WorldMonoid",
  "diff", "applyPlan", "emptyReality", "memory", "rollout", "waves", "InvalidRolloutError", "RolloutCodec",
] as const;

describe("public API", () => {
  it("exports every promised name", () => {
    for (const name of promised) expect(api, name).toHaveProperty(name);
  });

  it("exports the program layer, which imports no transport client and nothing above it", async () => {
    for (const name of ["plan", "apply", "bindSavedPlan", "fleetStatus", "deviceStatus", "worldWarnings", "errorMessage"] as const) expect(api, name).toHaveProperty(name);
    const { readdirSync, readFileSync } = await import("node:fs");
    const dir = new URL("../../src/program/", import.meta.url);
    for (const f of readdirSync(dir)) {
      const imports = [...readFileSync(new URL(f, dir), "utf8").matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1] as string);
      for (const i of imports) expect(i, `${f} imports ${i}`).toMatch(/^(\.\/|\.\.\/(algebra|selectors|world|diff)\/|\.\.\/interpreters\/Interpreter\.ts$|fp-ts\/|fastest-levenshtein$)/);
    }
  });

  it("keeps the fixed signatures", async () => {
    const d = api.device("pi-01", { labels: { env: "prod" }, arch: "aarch64" });
    expect(() => api.device("Not_A_Label")).toThrow(/Not_A_Label/);
    expect(api.matches(api.label("env", "prod"))(d)).toBe(true);
    const parsed = api.parseSelector("env=prod");
    expect(parsed._tag).toBe("Right");
    const dep = api.deployment("web", api.podman({ services: [{ name: "httpd", image: "httpd:2" }] }));
    const w = api.world({ fleet: [d], assignments: [api.assign(api.label("env", "prod"), dep, { priority: 1 }), api.assign(api.arch("aarch64"), [dep])] });
    const plan = api.diff(w, api.emptyReality, { now: new Date() });
    expect(Object.keys(plan)).toEqual(expect.arrayContaining(["actions", "conflicts", "summary"]));
    const next = api.applyPlan(api.emptyReality, plan);
    expect(api.diff(w, next, { now: new Date() }).actions).toEqual([]);
    expect(api.emptyReality.devices.size + api.emptyReality.desired.size).toBe(0);
    const m = api.memory();
    expect((await m.apply(plan))._tag).toBe("Completed");
    expect(api.WorldMonoid.concat(w, api.WorldMonoid.empty)).toEqual(w);
  });

  it("builds rollout policies, and names the field of a bad one", () => {
    const policy: api.Waves = api.rollout({ waves: [{ selector: "site=lab", limit: 5 }, "10%"], maxUnavailable: "10%", groupBy: ["site"], successThreshold: "95%" });
    expect(policy.successThreshold).toBe(95);
    const dep = api.deployment("web", api.podman({ services: [{ name: "httpd", image: "httpd:2" }] }), { rollout: api.waves("5%", "25%") });
    expect(dep.rollout._tag).toBe("Waves");
    expect(() => api.rollout({ waves: ["150%"] })).toThrow(api.InvalidRolloutError);
    expect(() => api.rollout({ waves: [{ selector: "site in (" }] })).toThrow(/waves\[0\]\.selector/);
  });
});
