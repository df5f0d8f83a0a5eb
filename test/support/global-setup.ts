/**
 * Runs once around the whole test run (vitest `globalSetup`): gives the run
 * a temp dir of its own and checks, at the end, that no test left anything
 * behind there or in the work tree.
 *
 * Every test process inherits `TMPDIR` pointing at `fleet-test-run-XXXXXX`,
 * so `os.tmpdir()` (and every server a harness starts) writes below it;
 * runs of other checkouts on the same machine never mix with this one. At
 * the end the dir must be empty: anything in it is a leak, named in the
 * failure (and then removed, so a failed run still leaves nothing). The
 * work tree's `git status` must be what it was at the start.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEMP_PREFIX } from "./processes.ts";

/**
 * Not leaks: tsx (which runs the `fleet` binary the CLI tests spawn) keeps its
 * IPC sockets and cache in `$TMPDIR/tsx-<uid>` for every later run to reuse.
 * It goes with the run's dir like everything else.
 */
const TOOL_DIRS: ReadonlyArray<RegExp> = [/^tsx-\d+$/];

const gitStatus = (): string | undefined => {
  try {
    return execFileSync("git", ["status", "--porcelain", "--untracked-files=all"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined; // not a git checkout (a packed tarball): nothing to compare
  }
};

export default function setup(): () => void {
  const previous = process.env["TMPDIR"];
  const runDir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}run-`));
  process.env["TMPDIR"] = runDir;
  const treeBefore = gitStatus();

  return () => {
    if (previous === undefined) delete process.env["TMPDIR"];
    else process.env["TMPDIR"] = previous;
    const left = readdirSync(runDir)
      .filter((name) => !TOOL_DIRS.some((re) => re.test(name)))
      .sort();
    rmSync(runDir, { recursive: true, force: true });
    const treeAfter = gitStatus();
    const problems: string[] = [];
    if (left.length > 0) problems.push(`tests left ${left.length} entr${left.length === 1 ? "y" : "ies"} in the temp dir: ${left.join(", ")}`);
    if (treeBefore !== undefined && treeAfter !== undefined) {
      // Only new or changed entries: one that went away was most likely committed during the run.
      const before = new Set(treeBefore.split("\n"));
      const changed = treeAfter.split("\n").filter((l) => l !== "" && !before.has(l));
      if (changed.length > 0) problems.push(`tests changed the work tree: ${changed.join("; ")}`);
    }
    if (problems.length > 0) {
      // vitest reports an error thrown here but keeps exit code 0: set it, so the run fails.
      process.exitCode = 1;
      throw new Error(problems.join("\n"));
    }
  };
}
