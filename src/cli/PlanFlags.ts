/**
 * The flags `fleet plan` and `fleet apply` share (apply plans first), and
 * their parsing into program options.
 */
import { backendFlags } from "./backends.ts";
import { orUsage, parseChoice, parseDuration } from "./Args.ts";
import type { GroupBy } from "./PlanText.ts";
import { loadTimeoutFlag } from "./Inputs.ts";

export const planFlags = {
  ...backendFlags,
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  "group-by": { type: "string" },
  "no-typecheck": { type: "boolean" },
  "offline-after": { type: "string" },
  ...loadTimeoutFlag,
} as const;

export interface PlanFlagValues {
  readonly "group-by"?: string;
  readonly "offline-after"?: string;
}

export const groupByOf = (command: string, values: PlanFlagValues): GroupBy =>
  orUsage(command, parseChoice<GroupBy>("--group-by", ["device", "deployment"], values["group-by"] ?? "device"));

/** `{ offlineAfterMs }` when the flag is given, else nothing (the default applies). */
export const offlineAfterOf = (command: string, values: PlanFlagValues): { readonly offlineAfterMs?: number } =>
  values["offline-after"] === undefined ? {} : { offlineAfterMs: orUsage(command, parseDuration("--offline-after", values["offline-after"])) };
