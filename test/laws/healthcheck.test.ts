/**
 * Health checks in the podman score: normalised (defaults filled, shell form
 * spelled as exec form) so that one check hashes alike however it is written,
 * rejected with the field and the reason when out of range, and invisible in
 * the spec hash of a service that declares none (hashes published before
 * health checks existed do not change).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { DeploymentCodec, deployment, hasHealthCheck, podman, specHash, type ServiceInput } from "../../src/algebra/Deployment.ts";
import { formatValidationErrors } from "../../src/algebra/DecodeError.ts";

const web = (extra: Partial<ServiceInput> = {}) => deployment("web", podman({ services: [{ name: "api", image: "registry.local/app:1", ...extra }] }));

describe("health checks in the podman score", () => {
  it("a deployment without health checks hashes exactly as before they existed (pinned)", () => {
    const d = deployment(
      "web",
      podman({
        services: [
          { name: "api", image: "nginx:1.27", env: { B: "2", A: "1" }, ports: [{ container: 80, host: 8080 }], volumes: [{ source: "data", target: "/data" }], restart: "always", command: ["nginx", "-g", "daemon off;"] },
          { name: "db", image: "postgres:16" },
        ],
      }),
    );
    expect(specHash(d)).toBe("sha256:682b3fda3bf6e073f0a1f739760720feba033fe1afa7c4ab6d23c65b65579c47");
    expect(hasHealthCheck(d)).toBe(false);
  });

  it("defaults are filled and the shell form is the exec form /bin/sh -c", () => {
    const d = web({ healthcheck: { command: "wget -q -O- localhost" } });
    expect(d.score.services[0]?.healthcheck).toEqual({ command: ["/bin/sh", "-c", "wget -q -O- localhost"], intervalSeconds: 30, retries: 3, startPeriodSeconds: 0, timeoutSeconds: 30 });
    expect(hasHealthCheck(d)).toBe(true);
  });

  it("one check hashes alike however it is spelled (shell or exec form, defaults given or not, short or normalised names)", () =>
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ""),
        fc.integer({ min: 1, max: 86_400 }),
        fc.boolean(),
        (cmd, interval, spellDefaults) => {
          const short = web({ healthcheck: { command: cmd, interval, ...(spellDefaults ? { retries: 3, startPeriod: 0, timeout: 30 } : {}) } });
          const long = web({ healthcheck: { command: ["/bin/sh", "-c", cmd], intervalSeconds: interval, ...(spellDefaults ? { timeoutSeconds: 30, startPeriodSeconds: 0 } : {}) } as never });
          return specHash(short) === specHash(long) && specHash(short) !== specHash(web());
        },
      ),
    ));

  it("a normalised deployment decodes to itself (stored specs round-trip)", () => {
    const d = web({ healthcheck: { command: ["true"], interval: 5, retries: 2, startPeriod: 10, timeout: 3 } });
    const back = DeploymentCodec.decode(JSON.parse(JSON.stringify(d)));
    expect(E.isRight(back) && specHash(back.right)).toBe(specHash(d));
  });

  const rejects: ReadonlyArray<readonly [string, unknown, string]> = [
    ["an empty command list", { command: [] }, "services.0.healthcheck.command: expected a shell command"],
    ["a blank shell command", { command: "  " }, "services.0.healthcheck.command: expected a shell command"],
    ["no command", { interval: 5 }, "services.0.healthcheck.command"],
    ["a zero interval", { command: "true", interval: 0 }, "services.0.healthcheck.interval: expected whole seconds from 1 to 86400, got 0"],
    ["a fractional retry count", { command: "true", retries: 1.5 }, "services.0.healthcheck.retries: expected a whole number from 1 to 1000, got 1.5"],
    ["a negative start period", { command: "true", startPeriod: -1 }, "services.0.healthcheck.startPeriod: expected whole seconds from 0 to 86400, got -1"],
    ["a timeout of a week", { command: "true", timeout: 604_800 }, "services.0.healthcheck.timeout: expected whole seconds from 1 to 86400"],
    ["two different intervals", { command: "true", interval: 5, intervalSeconds: 6 }, "healthcheck gives both interval (5) and intervalSeconds (6)"],
  ];
  for (const [what, healthcheck, message] of rejects)
    it(`rejects ${what}, naming the field`, () => {
      const r = DeploymentCodec.decode({ name: "web", score: { _tag: "PodmanV0", services: [{ name: "api", image: "i", healthcheck }] } });
      expect(E.isLeft(r) && formatValidationErrors(r.left)).toContain(message);
    });
});
