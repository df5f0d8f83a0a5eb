#!/usr/bin/env node
// The `fleet` executable: registers tsx (the CLI is TypeScript, run from source)
// and runs the CLI. Works from any directory: everything resolves from this file.
import { register } from "tsx/esm/api";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const tsconfig = fileURLToPath(new URL("../tsconfig.json", import.meta.url));
register(existsSync(tsconfig) ? { tsconfig } : {});
const { runAsProcess } = await import("../src/cli/main.ts");
await runAsProcess(process.argv.slice(2));
