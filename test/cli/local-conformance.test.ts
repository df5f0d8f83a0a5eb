/** The local backend runs the interpreter conformance suite against the in-memory reference. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe } from "vitest";
import { local, type LocalInterpreter } from "../../src/interpreters/local/index.ts";
import { SPECS_DIR, specFileName } from "../../src/interpreters/local/SpecStore.ts";
import { DeploymentCodec } from "../../src/algebra/Deployment.ts";
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
    // The spec is content-addressed: its file is edited in place. A store verifies each spec once per
    // process, so the read that must notice is the next command's: a fresh interpreter on the same directory.
    tamper: async (e, forged) => {
      await writeFile(join(current.stateDir, SPECS_DIR, specFileName(e.specHash) as string), `${JSON.stringify(DeploymentCodec.encode(forged), null, 2)}\n`);
      current = await local({ stateDir: current.stateDir });
    },
  };
  conformanceSuite("local", () => subject, { numRuns: 10 });
});
