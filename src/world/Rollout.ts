/**
 * Builders for rollout policies in fleet files (docs/rollouts.md):
 *
 *   deployment("web", podman({...}), {
 *     rollout: rollout({
 *       waves: [{ selector: "site=lab", limit: 5 }, "10%", "50%"],
 *       maxUnavailable: "10%", groupBy: ["site"],
 *       successThreshold: "95%", waveTimeout: "30m", onFailure: "rollback",
 *     }),
 *   })
 *
 *   deployment("web", podman({...}), { rollout: waves("5%", "25%") })
 *
 * A wave's selector may be a selector value or selector text; it is kept as
 * its canonical text. Every mistake throws an `InvalidRolloutError` naming
 * the field.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { formatValidationErrors } from "../algebra/DecodeError.ts";
import { RolloutCodec, type FailurePolicy, type Quantity, type Waves } from "../algebra/Rollout.ts";
import type { Selector } from "../selectors/Selector.ts";
import { printSelector } from "../selectors/Print.ts";
import { formatSelectorError, parseSelector } from "../selectors/Parse.ts";

export class InvalidRolloutError extends Error {
  override readonly name = "InvalidRolloutError";
}

export interface WaveInput {
  readonly selector?: Selector | string;
  readonly limit?: number | string;
  readonly successThreshold?: number | string;
}

export interface RolloutInput {
  /** Each wave: a limit (`5`, `"10%"`) or `{ selector, limit, successThreshold }`. The rest of the devices form a last wave. */
  readonly waves: ReadonlyArray<WaveInput | number | string>;
  readonly maxUnavailable?: number | string;
  readonly minAvailable?: number | string;
  /** Label keys: the budget holds within each group of devices sharing their values. */
  readonly groupBy?: ReadonlyArray<string>;
  /** Percent of a wave that must succeed before the next opens (`95`, `"95%"`); default 100. */
  readonly successThreshold?: number | string;
  /** `"30m"`, `"2h"`, or seconds. */
  readonly waveTimeout?: number | string;
  readonly onFailure?: FailurePolicy;
  readonly offline?: "defer";
}

/** Canonical text of a wave selector, or an error naming the wave. */
const selectorText = (s: Selector | string, i: number): string => {
  if (typeof s !== "string") return printSelector(s);
  return pipe(
    parseSelector(s),
    E.match(
      (e) => {
        throw new InvalidRolloutError(`waves[${i}].selector: ${formatSelectorError(e)}`);
      },
      printSelector,
    ),
  );
};

/** Checks a policy's wave selectors parse (policies decoded from JSON keep them as text). */
export const waveSelectorProblems = (w: Waves): ReadonlyArray<string> =>
  w.waves.flatMap((x, i) =>
    x.selector === undefined
      ? []
      : pipe(
          parseSelector(x.selector),
          E.match(
            (e) => [`waves[${i}].selector: ${formatSelectorError(e)}`],
            () => [],
          ),
        ),
  );

export const rollout = (input: RolloutInput): Waves => {
  if (typeof input !== "object" || input === null || !Array.isArray(input.waves))
    throw new InvalidRolloutError("rollout({ waves: [...] }): waves must be a list (a limit like \"10%\" or { selector, limit } per wave)");
  const waves = input.waves.map((w, i) =>
    typeof w === "number" || typeof w === "string"
      ? { limit: w }
      : {
          ...(w.selector !== undefined ? { selector: selectorText(w.selector, i) } : {}),
          ...(w.limit !== undefined ? { limit: w.limit } : {}),
          ...(w.successThreshold !== undefined ? { successThreshold: w.successThreshold } : {}),
        },
  );
  const budget =
    input.maxUnavailable !== undefined || input.minAvailable !== undefined || input.groupBy !== undefined
      ? {
          groupBy: input.groupBy ?? [],
          ...(input.maxUnavailable !== undefined ? { maxUnavailable: input.maxUnavailable } : {}),
          ...(input.minAvailable !== undefined ? { minAvailable: input.minAvailable } : {}),
        }
      : undefined;
  return pipe(
    RolloutCodec.decode({
      _tag: "Waves",
      waves,
      ...(budget !== undefined ? { budget } : {}),
      ...(input.successThreshold !== undefined ? { successThreshold: input.successThreshold } : {}),
      ...(input.waveTimeout !== undefined ? { waveTimeoutSeconds: input.waveTimeout } : {}),
      ...(input.onFailure !== undefined ? { onFailure: input.onFailure } : {}),
      ...(input.offline !== undefined ? { offline: input.offline } : {}),
    }),
    E.match(
      (errors) => {
        throw new InvalidRolloutError(`invalid rollout: ${formatValidationErrors(errors)}`);
      },
      (r) => r as Waves,
    ),
  );
};

/** `waves("5%", "25%", "50%")`: waves of these sizes, then the rest; the other settings as `rollout`'s. */
export const waves = (...limits: ReadonlyArray<Quantity | number | string>): Waves => rollout({ waves: limits });
