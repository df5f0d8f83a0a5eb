/** The NATS interpreter against a real nats-server runs the interpreter conformance suite. */
import { afterAll, beforeAll, describe } from "vitest";
import { conformanceSuite, type ConformanceSubject } from "../laws/conformance.ts";
import { nats, type NatsInterpreter } from "../../src/interpreters/nats/index.ts";
import { startNatsServer, type NatsServer } from "../support/nats-server.ts";

describe("nats interpreter", () => {
  let server: NatsServer;
  let interpreter: NatsInterpreter;
  let subject: ConformanceSubject;

  beforeAll(async () => {
    server = await startNatsServer();
    interpreter = await nats({ servers: server.url, name: "conformance" });
    subject = {
      interpreter,
      register: async (devices, at) => {
        await Promise.all(devices.map((d) => interpreter.register(d, at)));
      },
      reset: () => interpreter.reset(),
    };
  });
  afterAll(async () => {
    await interpreter?.close();
    await server?.stop();
  });

  conformanceSuite("nats", () => subject, { numRuns: 10 });
});
