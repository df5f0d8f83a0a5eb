/**
 * Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and content hashes.
 *
 * Law: for JSON values a, b that are equal as data (whatever their key order),
 * `canonicalJson(a) === canonicalJson(b)` and so `contentHash(a) === contentHash(b)`.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

// The package is CommonJS (`module.exports = fn`) while its typings declare a
// default export, which NodeNext resolution reads as `{ default }`: load it
// the way Node does and state its real type once.
const canonicalize = createRequire(import.meta.url)("canonicalize") as (value: unknown) => string | undefined;

export const canonicalJson = (value: unknown): string => {
  const s = canonicalize(value);
  if (s === undefined) throw new TypeError("value has no JSON form");
  return s;
};

/** `sha256:<hex>` of the canonical JSON. */
export const contentHash = (value: unknown): string =>
  `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
