/** The reference runs its own conformance suite: the suite itself must hold for it. */
import { describe } from "vitest";
import { memory, type MemoryInterpreter } from "../../src/interpreters/memory/index.ts";
import { conformanceSuite, type ConformanceSubject } from "./conformance.ts";

describe("memory interpreter", () => {
  let m: MemoryInterpreter = memory();
  const subject: ConformanceSubject = {
    get interpreter() {
      return m;
    },
    register: async (devices, at) => {
      for (const d of devices) m.register(d, at);
    },
    report: async (states) => {
      for (const s of states) m.report(s);
    },
    reset: async () => {
      m = memory();
    },
    tamper: async (e, forged) => m.overwriteSpec(e.device, e.deployment, forged),
  };
  conformanceSuite("memory", () => subject, { numRuns: 30 });
});
