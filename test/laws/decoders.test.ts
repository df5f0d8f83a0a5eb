/**
 * Decoders of outside data in the core (devices, deployments, realities,
 * LabelSelectors, selector text) are fuzzed: garbage gives a Left with a
 * readable message, never a throw; valid values round-trip.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import { DeviceCodec, EqDevice } from "../../src/algebra/Device.ts";
import { DeploymentCodec, specHash } from "../../src/algebra/Deployment.ts";
import { RealityCodec } from "../../src/diff/Reality.ts";
import { formatValidationErrors } from "../../src/algebra/DecodeError.ts";
import { deviceArb, deploymentArb, realityArb } from "./arbitraries.ts";
import { desiredView } from "./model.ts";

/** Garbage shaped like the real thing often enough to get past the first check. */
const nearMiss = fc.oneof(
  fc.anything(),
  fc.record({ id: fc.oneof(fc.string(), fc.constant("pi-01")), labels: fc.oneof(fc.anything(), fc.dictionary(fc.string(), fc.anything())), arch: fc.anything() }, { requiredKeys: [] }),
  fc.record({ name: fc.oneof(fc.string(), fc.constant("web")), score: fc.record({ _tag: fc.constantFrom("PodmanV0", "Other"), services: fc.array(fc.dictionary(fc.constantFrom("name", "image", "ports", "env", "restart", "volumes", "command", "healthcheck"), fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom("command", "interval", "retries", "startPeriod", "timeout", "intervalSeconds"), fc.anything())))) }) }, { requiredKeys: [] }),
  fc.record({ devices: fc.anything(), desired: fc.array(fc.anything()), observed: fc.anything(), damaged: fc.anything() }, { requiredKeys: [] }),
);

describe("core decoders", () => {
  const codecs: ReadonlyArray<readonly [string, t.Decoder<unknown, unknown>]> = [
    ["DeviceCodec", DeviceCodec],
    ["DeploymentCodec", DeploymentCodec],
    ["RealityCodec", RealityCodec],
  ];
  for (const [name, codec] of codecs) {
    it(`${name} never throws on garbage, and explains each Left`, () =>
      fc.assert(
        fc.property(nearMiss, (u) => {
          const r = codec.decode(u);
          return E.isRight(r) || formatValidationErrors(r.left).length > 0;
        }),
        { numRuns: 300 },
      ));
  }

  it("devices round-trip", () =>
    fc.assert(fc.property(deviceArb, (d) => {
      const back = DeviceCodec.decode(JSON.parse(JSON.stringify(DeviceCodec.encode(d))));
      return E.isRight(back) && EqDevice.equals(back.right, d);
    })));

  it("deployments round-trip with the same spec hash", () =>
    fc.assert(fc.property(deploymentArb, (d) => {
      const back = DeploymentCodec.decode(JSON.parse(JSON.stringify(DeploymentCodec.encode(d))));
      return E.isRight(back) && specHash(back.right) === specHash(d);
    })));

  it("realities round-trip through JSON", () =>
    fc.assert(fc.property(realityArb({ damaged: true }), (r) => {
      const back = RealityCodec.decode(JSON.parse(JSON.stringify(RealityCodec.encode(r))));
      return E.isRight(back) && JSON.stringify(desiredView(back.right)) === JSON.stringify(desiredView(r)) && back.right.damaged.size === r.damaged.size;
    })));

  it("errors name the path", () => {
    const r = DeploymentCodec.decode({ name: "web", score: { _tag: "PodmanV0", services: [{ name: "s", image: "i", restart: "sometimes" }] } });
    expect(E.isLeft(r) && formatValidationErrors(r.left)).toMatch(/score\.services\.0\.restart/);
    const d = DeviceCodec.decode({ id: "pi-01", labels: { "bad key!": "x" } });
    expect(E.isLeft(d) && formatValidationErrors(d.left)).toMatch(/label key "bad key!"/);
  });
});
