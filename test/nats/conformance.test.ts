/** The NATS interpreter against a real nats-server runs the interpreter conformance suite. */
import { beforeAll, describe } from "vitest";
import { conformanceSuite, type ConformanceSubject } from "../laws/conformance.ts";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { entryKey } from "../../src/algebra/Name.ts";
import { BUCKET } from "../../src/interpreters/nats/Buckets.ts";
import { encodeDesiredValue } from "../../src/interpreters/nats/wire.ts";
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
      // Another client with write access puts the forged spec under the entry's key, keeping its stated hash.
      tamper: async (e, forged) => {
        const nc = await connect({ servers: nats.server.url });
        try {
          const kv = await new Kvm(jetstream(nc)).open(BUCKET.desired);
          await kv.put(entryKey(e.device, e.deployment), encodeDesiredValue(forged, e.specHash));
        } finally {
          await nc.close();
        }
      },
    };
  });

  conformanceSuite("nats", () => subject, { numRuns: 10 });
});
