/**
 * Many lines to a slow reader: `outLines` writes in chunks and waits while
 * stdout holds more than its buffer (on Linux a write to a pipe never blocks,
 * so a million-device plan would otherwise sit in memory), and never waits on
 * an output whose reader went away.
 */
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { terminal, type Stream } from "../../src/cli/Terminal.ts";

/** A stream that is "full" after every write until `drain()` is called. */
class SlowStream extends EventEmitter implements Stream {
  readonly chunks: string[] = [];
  writableNeedDrain = false;
  destroyed = false;
  write(s: string): boolean {
    this.chunks.push(s);
    this.writableNeedDrain = true;
    return false;
  }
  drain(): void {
    this.writableNeedDrain = false;
    this.emit("drain");
  }
}

const lines = (n: number): string[] => Array.from({ length: n }, (_, i) => `line ${i} ${"x".repeat(200)}`);

describe("outLines", () => {
  it("writes no further chunk until the stream has drained, and writes every line in order", async () => {
    const out = new SlowStream();
    const t = terminal(out, new SlowStream(), { isTTY: false }, {});
    const all = lines(2000);
    const done = t.outLines(all);
    await new Promise((r) => setTimeout(r, 20));
    expect(out.chunks.length).toBe(1);
    let settled = false;
    void done.then(() => (settled = true));
    while (!settled) {
      out.drain();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(out.chunks.length).toBeGreaterThan(1);
    expect(out.chunks.join("")).toBe(all.map((l) => `${l}\n`).join(""));
  });

  it("does not wait on a stream that closed or was destroyed", async () => {
    const closing = new SlowStream();
    const t = terminal(closing, new SlowStream(), { isTTY: false }, {});
    const done = t.outLines(lines(2000));
    await new Promise((r) => setTimeout(r, 5));
    closing.destroyed = true;
    closing.emit("close");
    await done;
    expect(closing.chunks.length).toBeGreaterThan(1);
  });
});
