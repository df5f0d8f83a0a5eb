import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Tests and fleet files import the package by name; resolve it to the sources.
    alias: [
      { find: /^fleet-algebra$/, replacement: new URL("./src/index.ts", import.meta.url).pathname },
      { find: /^fleet-algebra\/(.*)$/, replacement: new URL("./src/interpreters/$1/index.ts", import.meta.url).pathname },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    setupFiles: ["test/laws/setup.ts"],
    // A temp dir of the run's own, and the check that no test leaves anything there or in the work tree.
    globalSetup: ["test/support/global-setup.ts"],
    // Server-backed suites start their own processes; two cores: keep parallelism modest.
    maxWorkers: 2,
    // Server-backed tests spawn real processes: 30 s was too short beside other files on a slower 2-core machine.
    testTimeout: 90_000,
    hookTimeout: 180_000,
    // expect.poll waits on real processes and a real browser: a second (the default) is too short on a loaded machine.
    expect: { poll: { timeout: 15_000 } },
  },
});
