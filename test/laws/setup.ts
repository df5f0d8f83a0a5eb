/**
 * Property tests run with a fixed seed so CI is reproducible; fast-check
 * prints the seed and the counterexample path on failure. Set FC_SEED to
 * explore other seeds locally, FC_RUNS to run more cases.
 */
import fc from "fast-check";

const seed = Number(process.env["FC_SEED"] ?? 20261123);
const numRuns = Number(process.env["FC_RUNS"] ?? 100);
fc.configureGlobal({ seed, numRuns, endOnFailure: true });
