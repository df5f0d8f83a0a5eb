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
    reset: async () => {
      await current.destroy();
      current = await local({ stateDir: join(dir, `s${++n}`) });
    },
  };
  conformanceSuite("local", () => subject, { numRuns: 10 });
});
