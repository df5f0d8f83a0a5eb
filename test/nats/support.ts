/** Helpers shared by the NATS suites: converge checks against a real server's Reality. */
import { desiredEntries, observedEntries, type Reality } from "../../src/diff/Reality.ts";
import type { Interpreter } from "../../src/interpreters/Interpreter.ts";

/** Every desired entry is observed Running at its spec, and nothing is observed that is not desired. */
export const converged = (r: Reality): boolean => {
  for (const d of desiredEntries(r)) {
    const o = r.observed.get(d.device)?.get(d.deployment);
    if (o === undefined || o.phase !== "Running" || o.specHash !== d.specHash) return false;
  }
  for (const o of observedEntries(r)) if (r.desired.get(o.device)?.get(o.deployment) === undefined) return false;
  return true;
};

/** What is still missing from convergence, for failure messages. */
export const notConverged = (r: Reality): string[] => {
  const out: string[] = [];
  for (const d of desiredEntries(r)) {
    const o = r.observed.get(d.device)?.get(d.deployment);
    if (o === undefined) out.push(`${d.device}.${d.deployment}: not reported`);
    else if (o.phase !== "Running" || o.specHash !== d.specHash) out.push(`${d.device}.${d.deployment}: ${o.phase} ${o.specHash ?? ""} ${o.error ?? ""}`);
  }
  for (const o of observedEntries(r)) if (r.desired.get(o.device)?.get(o.deployment) === undefined) out.push(`${o.device}.${o.deployment}: left behind (${o.phase})`);
  return out.sort();
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `read()` until `done(reality)` or the deadline; returns the last Reality either way. */
export const waitForReality = async (interpreter: Interpreter, done: (r: Reality) => boolean, timeoutMs = 20_000): Promise<Reality> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { reality } = await interpreter.read();
    if (done(reality) || Date.now() > deadline) return reality;
    await sleep(100);
  }
};
