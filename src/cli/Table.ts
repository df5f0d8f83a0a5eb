/**
 * Plain-text tables like `kubectl get`: a header row, columns separated by
 * two spaces, numbers right-aligned, widths measured without colour codes.
 */
import type { Paint } from "./Terminal.ts";

const ANSI = /\u001b\[[0-9;]*m/g;

/** Width as displayed: colour escape sequences take no room. */
export const visibleLength = (s: string): number => s.replace(ANSI, "").length;

export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  options: { readonly numeric?: ReadonlyArray<number>; readonly paint?: Paint } = {},
): ReadonlyArray<string> => {
  const numeric = new Set(options.numeric ?? []);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ""))));
  const cell = (s: string, i: number): string => {
    const gap = " ".repeat((widths[i] as number) - visibleLength(s));
    return numeric.has(i) ? gap + s : s + gap;
  };
  const render = (r: ReadonlyArray<string>): string => r.map(cell).join("  ").trimEnd();
  const head = render(headers);
  return [options.paint !== undefined ? options.paint.bold(head) : head, ...rows.map(render)];
};
