/**
 * The recovery advice for an unusable local state file names only files that
 * exist and can help: the backup's `cp` only when a usable backup exists.
 */
import { describe, expect, it } from "vitest";
import { recoveryAdvice } from "../../src/interpreters/local/CorruptState.ts";

describe("recoveryAdvice", () => {
  const path = "/s/state.json";
  const backup = "/s/state.json.backup";
  it("offers the backup, with its serial, when it is usable", () => {
    const a = recoveryAdvice(path, backup, { _tag: "Usable", serial: 7 });
    expect(a).toContain(`\`cp ${backup} ${path}\` (serial 7)`);
    expect(a).toContain(`move ${path} away`);
  });
  it("never offers a backup that is missing or unusable", () => {
    for (const found of [{ _tag: "Missing" }, { _tag: "Unusable" }] as const) {
      const a = recoveryAdvice(path, backup, found);
      expect(a).not.toContain("cp ");
      expect(a).toContain(`move ${path} away to start from an empty state`);
    }
    expect(recoveryAdvice(path, backup, { _tag: "Missing" })).toContain("there is no backup");
    expect(recoveryAdvice(path, backup, { _tag: "Unusable" })).toContain(`neither is its backup ${backup}`);
  });
});
