/** The package version, read once from package.json (for `--version`, lock files and saved plans). */
import { readFileSync } from "node:fs";

const read = (): string => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
};

export const VERSION: string = read();
