/**
 * A device as the control plane knows it: a validated id, Kubernetes-style
 * labels, a CPU architecture, and the optional facts it registered with.
 *
 * Devices compare by value (`EqDevice`) and order by id (`OrdDevice`); two
 * devices with one id but different labels are different values, which is how
 * the World detects a device declared twice in two ways.
 */
import * as S from "fp-ts/lib/string.js";
import { concatAll } from "fp-ts/lib/Monoid.js";
import * as t from "io-ts";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import type { Eq } from "fp-ts/lib/Eq.js";
import * as Ord from "fp-ts/lib/Ord.js";
import { DeviceId, OrdDeviceId, parseDeviceId, InvalidNameError, type InvalidName } from "./Name.ts";
import { LabelsCodec, labelsEqual, sortedLabels, labelKeyProblem, labelValueProblem, type Labels } from "./Labels.ts";
import { canonicalJson } from "./Canonical.ts";

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Hardware and OS facts a device reports at registration. Open-ended: agents evolve. */
export type Inventory = Readonly<Record<string, unknown>>;

export interface Device {
  readonly id: DeviceId;
  readonly labels: Labels;
  /** `uname -m` style: `aarch64`, `x86_64`, `armv7l`; `unknown` when not declared. */
  readonly arch: string;
  readonly inventory?: Inventory;
  readonly agentVersion?: string;
}

const ARCH = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
export const isArch = (s: string): boolean => ARCH.test(s);
export const UNKNOWN_ARCH = "unknown";

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

const ArchCodec = t.refinement(t.string, isArch, "Arch");

/** The exact in-memory codec (used for fleet files and local state). */
export const DeviceCodec: t.Type<Device, unknown, unknown> = new t.Type<Device, unknown, unknown>(
  "Device",
  (u): u is Device => E.isRight(DeviceCodecRaw.decode(u)),
  (u, c) =>
    pipe(
      DeviceCodecRaw.validate(u, c),
      E.map((d) => makeDevice(d.id, d.labels ?? {}, d.arch ?? UNKNOWN_ARCH, d.inventory, d.agentVersion)),
    ),
  (d) => ({ ...d, labels: { ...d.labels } }),
);

const DeviceCodecRaw = t.intersection([
  t.type({ id: DeviceId }),
  t.partial({
    labels: LabelsCodec,
    arch: ArchCodec,
    inventory: t.UnknownRecord,
    agentVersion: t.string,
  }),
]);

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const makeDevice = (
  id: DeviceId,
  labels: Readonly<Record<string, string>>,
  arch: string,
  inventory?: Inventory,
  agentVersion?: string,
): Device =>
  Object.freeze({
    id,
    labels: sortedLabels(labels),
    arch,
    ...(inventory !== undefined ? { inventory } : {}),
    ...(agentVersion !== undefined ? { agentVersion } : {}),
  });

export interface DeviceOptions {
  readonly labels?: Readonly<Record<string, string>>;
  readonly arch?: string;
  readonly inventory?: Inventory;
  readonly agentVersion?: string;
}

export type DeviceError =
  | InvalidName
  | { readonly _tag: "InvalidLabel"; readonly device: string; readonly key: string; readonly reason: string }
  | { readonly _tag: "InvalidArch"; readonly device: string; readonly arch: string };

export const formatDeviceError = (e: DeviceError): string => {
  switch (e._tag) {
    case "InvalidName":
      return new InvalidNameError(e).message;
    case "InvalidLabel":
      return `device ${JSON.stringify(e.device)}: label ${JSON.stringify(e.key)}: ${e.reason}`;
    case "InvalidArch":
      return `device ${JSON.stringify(e.device)}: invalid arch ${JSON.stringify(e.arch)} (expected e.g. "aarch64", "x86_64")`;
  }
};

/** Builds a device, or says which part of it is invalid. */
export const parseDevice = (id: string, opts: DeviceOptions = {}): E.Either<DeviceError, Device> =>
  pipe(
    parseDeviceId(id),
    E.chainW((did): E.Either<DeviceError, Device> => {
      for (const [k, v] of Object.entries(opts.labels ?? {})) {
        const kp = labelKeyProblem(k);
        if (kp !== undefined) return E.left({ _tag: "InvalidLabel", device: id, key: k, reason: `key ${kp}` });
        const vp = typeof v !== "string" ? "value must be a string" : labelValueProblem(v);
        if (vp !== undefined)
          return E.left({ _tag: "InvalidLabel", device: id, key: k, reason: `value ${JSON.stringify(v)} ${vp}` });
      }
      const arch = opts.arch ?? UNKNOWN_ARCH;
      if (!isArch(arch)) return E.left({ _tag: "InvalidArch", device: id, arch });
      return E.right(makeDevice(did, opts.labels ?? {}, arch, opts.inventory, opts.agentVersion));
    }),
  );

export class InvalidDeviceError extends Error {
  override readonly name = "InvalidDeviceError";
  constructor(readonly detail: DeviceError) {
    super(formatDeviceError(detail));
  }
}

/**
 * The fleet-file constructor: `device("pi-01", { labels: { env: "prod" }, arch: "aarch64" })`.
 * Throws `InvalidDeviceError` naming the bad id, label or arch.
 */
export const device = (id: string, opts: DeviceOptions = {}): Device =>
  pipe(
    parseDevice(id, opts),
    E.getOrElseW((e) => {
      throw new InvalidDeviceError(e);
    }),
  );

// -------------------------------------------------------------------------------------
// instances
// -------------------------------------------------------------------------------------

export const EqDevice: Eq<Device> = {
  equals: (a, b) =>
    a === b ||
    (a.id === b.id &&
      a.arch === b.arch &&
      labelsEqual(a.labels, b.labels) &&
      a.agentVersion === b.agentVersion &&
      canonicalJson(a.inventory ?? null) === canonicalJson(b.inventory ?? null)),
};

/** By id only: the order of fleets and plans. */
export const OrdDeviceById: Ord.Ord<Device> = Ord.contramap((d: Device) => d.id)(OrdDeviceId);

/** By id, then by canonical content, so that even conflicting duplicates order deterministically. */
export const OrdDevice: Ord.Ord<Device> = concatAll(Ord.getMonoid<Device>())([
  OrdDeviceById,
  Ord.contramap((d: Device) => canonicalJson(DeviceCodec.encode(d)))(S.Ord),
]);
