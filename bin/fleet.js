#!/usr/bin/env node
// The `fleet` executable. Works from any directory: everything resolves from this file.
//
// Start-up is most of a short command's time, so this loads as little as it can:
// - the compiled CLI in dist/ when it is there and not older than any source file
//   (a published package, or a checkout after `npm run build`): plain JavaScript,
//   no loader; tsx is then loaded only by the commands that load fleet files;
// - else the TypeScript sources through tsx (a checkout being edited), so a stale
//   build never runs.
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const compiled = `${root}dist/cli/main.js`;

/** Whether dist/ was built after the last change to src/ (a few hundred stats: about a millisecond). */
const compiledIsCurrent = () => {
  let built;
  try {
    built = statSync(compiled).mtimeMs;
  } catch {
    return false;
  }
  const newer = (dir) =>
    readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? newer(`${dir}/${e.name}`) : e.name.endsWith(".ts") && statSync(`${dir}/${e.name}`).mtimeMs > built,
    );
  return !existsSync(`${root}src`) || !newer(`${root}src`);
};

if (process.env["FLEET_FROM_SOURCE"] !== "1" && compiledIsCurrent()) {
  const { runAsProcess } = await import(compiled);
  await runAsProcess(process.argv.slice(2));
} else {
  const { register } = await import("tsx/esm/api");
  const tsconfig = `${root}tsconfig.json`;
  register(existsSync(tsconfig) ? { tsconfig } : {});
  const { runAsProcess } = await import("../src/cli/main.ts");
  await runAsProcess(process.argv.slice(2));
}
