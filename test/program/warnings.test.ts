/**
 * World warnings: typos in selectors caught before they ship. Each kind is
 * given exactly when it applies, suggestions are near and real, and the list
 * is in one order whatever the order the World was built in.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as O from "fp-ts/lib/Option.js";
import { distance } from "fastest-levenshtein";
import { device } from "../../src/algebra/Device.ts";
import { deployment, podman } from "../../src/algebra/Deployment.ts";
import { all, and, deviceIds, label } from "../../src/selectors/Selector.ts";
import { assign } from "../../src/world/Assignment.ts";
import { world } from "../../src/world/World.ts";
import { formatWorldWarning, nearestKey, worldWarnings } from "../../src/program/Warnings.ts";

const dep = (name: string, image = `${name}:1`) => deployment(name, podman({ services: [{ name: "s", image }] }));
const fleet = [device("pi-01", { labels: { env: "prod", tier: "edge" } }), device("pi-02", { labels: { env: "dev" } })];

describe("world warnings", () => {
  it("a typo in a label key: unknown key with the nearest one, selects nothing, deployment given to no device", () => {
    const w = world({ fleet, assignments: [assign("evn=prod", dep("web")), assign(all, dep("metrics"))] });
    const ws = worldWarnings(w, fleet);
    expect(ws).toEqual([
      { _tag: "UnknownLabelKey", assignment: "evn=prod", key: "evn", didYouMean: O.some("env") },
      { _tag: "UnmatchedSelector", assignment: "evn=prod", selector: "evn=prod" },
      { _tag: "UnassignedDeployment", deployment: "web" },
    ]);
    expect(ws.map(formatWorldWarning)).toEqual([
      'assignment evn=prod reads label key "evn", which no device has (did you mean "env"?)',
      "assignment evn=prod selects no device",
      "deployment web is given to no device",
    ]);
  });

  it("a known key with a value no device has: selects nothing, but the key is fine", () => {
    const w = world({ fleet, assignments: [assign(label("env", "staging"), dep("web"), { name: "staging-web" })] });
    expect(worldWarnings(w, fleet)).toEqual([
      { _tag: "UnmatchedSelector", assignment: "staging-web", selector: "env=staging" },
      { _tag: "UnassignedDeployment", deployment: "web" },
    ]);
  });

  it("a deployment given by another assignment is not unassigned; one in conflict is not either", () => {
    const w = world({
      fleet,
      assignments: [
        assign(label("env", "nope"), dep("web")),
        assign(label("env", "prod"), dep("web")),
        assign(label("tier", "edge"), dep("api", "a:1")),
        assign(label("env", "prod"), dep("api", "a:2")),
      ],
    });
    expect(worldWarnings(w, fleet)).toEqual([{ _tag: "UnmatchedSelector", assignment: "env=nope", selector: "env=nope" }]);
  });

  it("a World that selects well gives no warning; with no known device there is nothing to judge", () => {
    const w = world({ fleet, assignments: [assign(and(label("env", "prod"), label("tier", "edge")), dep("web")), assign(all, dep("m"))] });
    expect(worldWarnings(w, fleet)).toEqual([]);
    expect(worldWarnings(world({ assignments: [assign("evn=prod", dep("web"))] }), [])).toEqual([]);
    // A parked assignment (`@none`) is not a typo; what it parks is still reported if nothing else gives it.
    expect(worldWarnings(world({ fleet, assignments: [assign("@none", dep("canary")), assign(deviceIds([]), dep("canary")), assign(all, dep("m"))] }), fleet)).toEqual([{ _tag: "UnassignedDeployment", deployment: "canary" }]);
  });

  it("typos first, then selectors that select nothing, then deployments; each by name", () => {
    const w = world({ fleet, assignments: [assign("zone=x", dep("db")), assign("evn=prod", dep("web")), assign(all, dep("m"))] });
    expect(worldWarnings(w, fleet).map((x) => `${x._tag} ${x._tag === "UnassignedDeployment" ? x.deployment : x.assignment}`)).toEqual([
      "UnknownLabelKey evn=prod",
      "UnknownLabelKey zone=x",
      "UnmatchedSelector evn=prod",
      "UnmatchedSelector zone=x",
      "UnassignedDeployment db",
      "UnassignedDeployment web",
    ]);
  });

  it("the list does not depend on the order assignments were given in", () => {
    const as = [assign("evn=prod", dep("web")), assign("tire=edge", dep("api")), assign("zone=x", dep("db")), assign(all, dep("m"))];
    const expected = worldWarnings(world({ fleet, assignments: as }), fleet);
    fc.assert(
      fc.property(fc.shuffledSubarray(as, { minLength: as.length }), (xs) => {
        expect(worldWarnings(world({ fleet, assignments: xs }), fleet)).toEqual(expected);
      }),
    );
  });
});

describe("nearestKey", () => {
  it("suggests typos, not other words", () => {
    expect(nearestKey("evn", ["env", "tier"])).toEqual(O.some("env"));
    expect(nearestKey("tire", ["env", "tier"])).toEqual(O.some("tier"));
    expect(nearestKey("region", ["env", "tier"])).toEqual(O.none);
    expect(nearestKey("x", ["y"])).toEqual(O.none);
    expect(nearestKey("env", [])).toEqual(O.none);
  });

  it("a suggestion is a known key within two edits, and the nearest one", () => {
    const key = fc.stringMatching(/^[a-z]{1,8}$/);
    fc.assert(
      fc.property(key, fc.array(key, { maxLength: 6 }), (k, known) => {
        const s = nearestKey(k, known);
        if (O.isNone(s)) return known.every((x) => distance(k, x) > 2 || distance(k, x) >= k.length);
        return known.includes(s.value) && distance(k, s.value) <= 2 && known.every((x) => distance(k, x) >= distance(k, s.value));
      }),
    );
  });
});
