/** Flag decoders of `fleet agent` and `fleet sim`: pure, never throwing, one clear message each. */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { natsReplicas, natsSettings, parseMillis, parseNonNegativeInt, parseProbability } from "../../src/cli/commands/agent.ts";
import { backendConfig, decodeNatsTimeout, decodeReplicas } from "../../src/cli/backends.ts";
import { serverList } from "../../src/interpreters/nats/Connection.ts";
import { parseLabelsArg } from "../../src/cli/Args.ts";

describe("fleet agent / sim flags", () => {
  it("labels", () => {
    expect(parseLabelsArg("--labels", "env=prod,site=north")).toEqual(E.right({ env: "prod", site: "north" }));
    expect(parseLabelsArg("--labels", "")).toEqual(E.right({}));
    expect(parseLabelsArg("--labels", "example.com/gen=7, tier=")).toEqual(E.right({ "example.com/gen": "7", tier: "" }));
    expect(parseLabelsArg("--labels", "env")).toEqual(E.left('--labels: expected k=v[,k=v...], got "env"'));
    expect(parseLabelsArg("--labels", "env=a,env=b")).toEqual(E.left('--labels: label "env" given twice'));
    const bad = parseLabelsArg("--labels", "env=not valid");
    expect(E.isLeft(bad) && bad.left.startsWith('--labels: label "env" value "not valid"')).toBe(true);
  });

  it("milliseconds, probabilities, counts", () => {
    expect(parseMillis("--latency", "250")).toEqual(E.right(250));
    expect(parseMillis("--heartbeat-interval", "10s")).toEqual(E.right(10_000));
    expect(parseMillis("--heartbeat-interval", "500ms")).toEqual(E.right(500));
    expect(E.isLeft(parseMillis("--latency", "0"))).toBe(true);
    expect(E.isLeft(parseMillis("--latency", "soon"))).toBe(true);
    expect(parseProbability("--fail-rate", "0.25")).toEqual(E.right(0.25));
    for (const p of ["-0.1", "1.5", "", "x", "NaN"]) expect(E.isLeft(parseProbability("--fail-rate", p)), p).toBe(true);
    expect(parseNonNegativeInt("--devices", "1000", 100_000)).toEqual(E.right(1000));
    expect(E.isLeft(parseNonNegativeInt("--devices", "100001", 100_000))).toBe(true);
  });

  it("never throw, whatever the text", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        for (const r of [parseLabelsArg("--labels", s), parseMillis("--latency", s), parseProbability("--fail-rate", s), parseNonNegativeInt("--seed", s)])
          if (E.isLeft(r)) expect(r.left.length).toBeGreaterThan(0);
      }),
    );
  });

  it("NATS settings from flags and environment", () => {
    expect(natsSettings("agent", { nats: "nats://a:4222, nats://b:4222", "nats-token": "t" }, {}, "n")).toEqual({
      servers: ["nats://a:4222", "nats://b:4222"],
      name: "n",
      token: "t",
    });
    expect(natsSettings("sim", {}, { FLEET_NATS_URL: "nats://c:4222", FLEET_NATS_TOKEN: "e" }, "n")).toEqual({ servers: ["nats://c:4222"], name: "n", token: "e" });
    expect(() => natsSettings("agent", {}, {}, "n")).toThrow(/--nats URL is required/);
    expect(() => natsSettings("agent", { nats: "x", "nats-user": "u" }, {}, "n")).toThrow(/--nats-user and --nats-pass go together/);
  });

  it("--replicas: 1 to 5, a flag of the nats backend only", () => {
    expect(decodeReplicas({})).toEqual(E.right(undefined));
    expect(decodeReplicas({ replicas: "3" })).toEqual(E.right(3));
    for (const bad of ["0", "6", "x", "3.5", "", "-1"]) {
      expect(decodeReplicas({ replicas: bad }), bad).toEqual(E.left(`--replicas: expected 1 to 5 (3 on a three-server cluster), got ${JSON.stringify(bad)}`));
    }
    expect(natsReplicas("sim", { replicas: "5" })).toBe(5);
    expect(() => natsReplicas("agent", { replicas: "7" })).toThrow(/--replicas: expected 1 to 5 .* \(see 'fleet agent --help'\)$/);
    expect(backendConfig({ backend: "nats", nats: "nats://a:1,nats://b:2", replicas: "3" }, {})).toEqual(
      E.right({ _tag: "nats", servers: ["nats://a:1", "nats://b:2"], replicas: 3 }),
    );
    expect(backendConfig({ replicas: "3" }, {})).toEqual(E.left("--replicas is a flag of the nats backend, but the backend is local (add --backend nats)"));
  });

  it("--nats-timeout: a duration over 0 for one JetStream API request, a flag of the nats backend only", () => {
    expect(backendConfig({ backend: "nats", nats: "nats://a:1", "nats-timeout": "30s" }, {})).toEqual(E.right({ _tag: "nats", servers: ["nats://a:1"], apiTimeoutMs: 30_000 }));
    expect(backendConfig({ backend: "nats", nats: "nats://a:1" }, {})).toEqual(E.right({ _tag: "nats", servers: ["nats://a:1"] }));
    for (const bad of ["0", "0s", "x", "-1s", ""]) expect(E.isLeft(backendConfig({ backend: "nats", nats: "nats://a:1", "nats-timeout": bad }, {})), bad).toBe(true);
    expect(backendConfig({ "nats-timeout": "30s" }, {})).toEqual(E.left("--nats-timeout is a flag of the nats backend, but the backend is local (add --backend nats)"));
  });

  it("--nats-timeout of `fleet agent` and `fleet sim`: the same decoder, a duration over 0 or nothing", () => {
    expect(decodeNatsTimeout(undefined)).toEqual(E.right(undefined));
    expect(decodeNatsTimeout("1m")).toEqual(E.right(60_000));
    for (const bad of ["0", "0s", "x", "-1s", ""]) expect(E.isLeft(decodeNatsTimeout(bad)), bad).toBe(true);
  });

  it("a server list: one URL, a comma-separated list or a list, all the same list", () => {
    expect(serverList("nats://a:1")).toEqual(["nats://a:1"]);
    expect(serverList(" nats://a:1 , nats://b:2,")).toEqual(["nats://a:1", "nats://b:2"]);
    expect(serverList(["nats://a:1,nats://b:2", " nats://c:3 ", ""])).toEqual(["nats://a:1", "nats://b:2", "nats://c:3"]);
  });
});
