/** The local backend runs the interpreter conformance suite against the in-memory reference. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe } from "vitest";
import { local, type LocalInterpreter } from "../../src/interpreters/local/index.ts";
import { conformanceSuite, type ConformanceSubject } from "../laws/conformance.ts";

describe("local interpreter", () => {
  let dir = "";
  let n = 0;
  let current: LocalInterpreter;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fleet-local-conf-"));
    current = await local({ stateDir: join(dir, "s0") });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const subject: ConformanceSubject = {
    get interpreter() {
      return current;
    },
    register: (devices, at) => current.register(devices, at),
    report: (states) =>
      current.simulate("report", (r) => {
        const observed = new Map(r.observed);
        for (const s of states) observed.set(s.device, new Map(observed.get(s.device) ?? []).set(s.deployment, s));
        return { devices: r.devices, observed };
      }),
    reset: async () => {
      await current.destroy();
      current = await local({ stateDir: join(dir, `s${++n}`) });
    },
  };
  conformanceSuite("local", () => subject, { numRuns: 10 });
});
