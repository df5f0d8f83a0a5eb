/**
 * This host as a device: an id from its host name (made a valid DNS label),
 * an arch in `uname -m` spelling, the labels it was given, and a few facts.
 *
 * Laws: `hostDeviceId` always returns a valid DNS label; it is the identity
 * on names that already are one (after lower-casing the first label of a
 * fully qualified name).
 */
import * as os from "node:os";
import * as E from "fp-ts/lib/Either.js";
import { parseDevice, InvalidDeviceError, type Device } from "../../algebra/Device.ts";

/** Node's `os.arch()` names to the `uname -m` names fleet files use. */
const UNAME: Readonly<Record<string, string>> = {
  x64: "x86_64",
  arm64: "aarch64",
  arm: "armv7l",
  ia32: "i686",
  ppc64: os.endianness() === "LE" ? "ppc64le" : "ppc64",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loongarch64",
  mips: "mips",
  mipsel: "mips",
};

export const unameArch = (nodeArch: string = os.arch()): string => UNAME[nodeArch] ?? nodeArch;

/** `Pi-01.lan` -> `pi-01`; `my_box` -> `my-box`; nothing usable -> `localhost`. */
export const hostDeviceId = (hostname: string = os.hostname()): string => {
  const first = hostname.split(".")[0] ?? "";
  const label = first
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
  return label === "" ? "localhost" : label;
};

export interface HostDeviceOptions {
  readonly deviceId?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly arch?: string;
  readonly podmanVersion?: string;
}

/** Throws `InvalidDeviceError` (a clear one-line message) for a bad id, label or arch given explicitly. */
export const hostDevice = (options: HostDeviceOptions = {}): Device => {
  const parsed = parseDevice(options.deviceId ?? hostDeviceId(), {
    labels: options.labels ?? {},
    arch: options.arch ?? unameArch(),
    inventory: {
      hostname: os.hostname(),
      os: `${os.type()} ${os.release()}`,
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      ...(options.podmanVersion !== undefined ? { podman: options.podmanVersion } : {}),
    },
  });
  if (E.isLeft(parsed)) throw new InvalidDeviceError(parsed.left);
  return parsed.right;
};
