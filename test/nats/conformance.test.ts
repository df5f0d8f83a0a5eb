/** The NATS interpreter against a real nats-server runs the interpreter conformance suite. */
import { beforeAll, describe } from "vitest";
import { conformanceSuite, type ConformanceSubject } from "../laws/conformance.ts";
import { useNats } from "./support.ts";

describe("nats interpreter", () => {
  const nats = useNats({ name: "conformance" });
  let subject: ConformanceSubject;

  beforeAll(() => {
    const interpreter = nats.fleet;
    subject = {
      interpreter,
      register: async (devices, at) => {
        await Promise.all(devices.map((d) => interpreter.register(d, at)));
      },
      report: async (states) => {
        await Promise.all(states.map((s) => interpreter.report(s)));
      },
      reset: () => interpreter.reset(),
    };
  });

  conformanceSuite("nats", () => subject, { numRuns: 10 });
});
