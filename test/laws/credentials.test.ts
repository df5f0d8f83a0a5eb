/**
 * Per-device NATS permissions: no two devices' subject sets overlap, and
 * every subject a device may use names that device.
 */
import { describe, expect } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { devicePermissions } from "../../src/interpreters/nats/Credentials.ts";
import type { DeviceId } from "../../src/algebra/Name.ts";

/** Whether some concrete subject matches both NATS subject patterns (`*` one token, `>` one or more at the end). */
const overlap = (p: string, q: string): boolean => {
  const a = p.split(".");
  const b = q.split(".");
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === ">" || y === ">") return (x === ">" ? b.length : a.length) > i;
    if (x === undefined || y === undefined) return x === y;
    if (x !== "*" && y !== "*" && x !== y) return false;
  }
};

const id = fc.stringMatching(/^[a-z0-9](?:[-a-z0-9]{0,10}[a-z0-9])?$/).map((s) => s as DeviceId);

describe("device permissions", () => {
  test.prop([id, id])("no two devices' subject sets overlap", (a, b) => {
    fc.pre(a !== b);
    const pa = devicePermissions(a);
    const pb = devicePermissions(b);
    for (const kind of ["pub", "sub"] as const)
      for (const x of pa[kind]) for (const y of pb[kind]) expect(overlap(x, y), `${kind}: ${x} vs ${y}`).toBe(false);
  });

  test.prop([id])("every subject a device may use names it", (a) => {
    const p = devicePermissions(a);
    for (const s of [...p.pub, ...p.sub]) expect(s.split(".").some((t) => t === a || t === `_INBOX_${a}`)).toBe(true);
  });

  test.prop([id, id])("the overlap oracle itself: a pattern overlaps itself, and distinct literals do not", (a, b) => {
    expect(overlap(`x.${a}.>`, `x.${a}.>`)).toBe(true);
    expect(overlap(`x.*.y`, `x.${a}.y`)).toBe(true);
    expect(overlap(`x.${a}`, `x.${b}`)).toBe(a === b);
  });
});
