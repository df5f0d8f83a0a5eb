/**
 * `npx tsx apply fleets/prod.ts [flags]` from the repository root: the same as
 * `fleet apply fleets/prod.ts [flags]`.
 */
import { runAsProcess } from "./src/cli/main.ts";

await runAsProcess(["apply", ...process.argv.slice(2)]);
