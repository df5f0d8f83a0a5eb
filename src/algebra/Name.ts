/**
 * Validated names: device ids and deployment names are RFC 1123 DNS labels.
 *
 * A DNS label is 1 to 63 characters of lower-case letters, digits and '-',
 * starting and ending with a letter or digit. Because a label holds no '.',
 * `<device>.<deployment>` is an unambiguous KV key.
 *
 * The brands are made once here, by refinement; everything else receives a
 * `DeviceId` or a `DeploymentName` and never re-validates a bare string.
 */
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import type { Ord } from "fp-ts/lib/Ord.js";
import * as S from "fp-ts/lib/string.js";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/** True when `s` is an RFC 1123 DNS label. */
export const isDnsLabel = (s: string): boolean => DNS_LABEL.test(s);

export interface DeviceIdBrand {
  readonly DeviceId: unique symbol;
}
export interface DeploymentNameBrand {
  readonly DeploymentName: unique symbol;
}

export const DeviceId = t.brand(t.string, (s): s is t.Branded<string, DeviceIdBrand> => isDnsLabel(s), "DeviceId");
export type DeviceId = t.TypeOf<typeof DeviceId>;

export const DeploymentName = t.brand(
  t.string,
  (s): s is t.Branded<string, DeploymentNameBrand> => isDnsLabel(s),
  "DeploymentName",
);
export type DeploymentName = t.TypeOf<typeof DeploymentName>;

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

export interface InvalidName {
  readonly _tag: "InvalidName";
  readonly kind: "device id" | "deployment name";
  readonly value: string;
  readonly reason: string;
}

/** Says, for humans, why `s` is not a DNS label (the regex alone says nothing). */
export const dnsLabelProblem = (s: string): string | undefined => {
  if (s.length === 0) return "must not be empty";
  if (s.length > 63) return `must be at most 63 characters (has ${s.length})`;
  const bad = [...s].find((c) => !/[-a-z0-9]/.test(c));
  if (bad !== undefined) {
    return /[A-Z]/.test(bad)
      ? `must be lower case (found ${JSON.stringify(bad)})`
      : `may only contain a-z, 0-9 and '-' (found ${JSON.stringify(bad)})`;
  }
  if (!/^[a-z0-9]/.test(s)) return "must start with a letter or digit";
  if (!/[a-z0-9]$/.test(s)) return "must end with a letter or digit";
  return undefined;
};

export const formatInvalidName = (e: InvalidName): string =>
  `invalid ${e.kind} ${JSON.stringify(e.value)}: ${e.reason} (RFC 1123 DNS label)`;

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const parseName =
  <A>(kind: InvalidName["kind"]) =>
  (s: string): E.Either<InvalidName, A> => {
    const reason = dnsLabelProblem(s);
    return reason === undefined ? E.right(s as A) : E.left({ _tag: "InvalidName", kind, value: s, reason });
  };

export const parseDeviceId: (s: string) => E.Either<InvalidName, DeviceId> = parseName<DeviceId>("device id");
export const parseDeploymentName: (s: string) => E.Either<InvalidName, DeploymentName> =
  parseName<DeploymentName>("deployment name");

/** The error a DSL constructor throws: fleet files want exceptions with a clear message. */
export class InvalidNameError extends Error {
  override readonly name = "InvalidNameError";
  constructor(readonly detail: InvalidName) {
    super(formatInvalidName(detail));
  }
}

export const unsafeDeviceId = (s: string): DeviceId =>
  E.getOrElse<InvalidName, DeviceId>((e) => {
    throw new InvalidNameError(e);
  })(parseDeviceId(s));

export const unsafeDeploymentName = (s: string): DeploymentName =>
  E.getOrElse<InvalidName, DeploymentName>((e) => {
    throw new InvalidNameError(e);
  })(parseDeploymentName(s));

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

/** Code-unit order: locale-independent, so plans print the same everywhere. */
export const OrdDeviceId: Ord<DeviceId> = S.Ord;
export const OrdDeploymentName: Ord<DeploymentName> = S.Ord;

/** `<device>.<deployment>`, the key of `desired-state` and `device-state`. */
export const entryKey = (device: DeviceId, deployment: DeploymentName): string => `${device}.${deployment}`;
