/**
 * The signatures one call of a signer returns, in its entries' order, each
 * in the two forms its users need: the JSON text it travels in (what a
 * writer puts into a desired value) and the object (`EntrySignature`).
 *
 * Why not just an array of objects: a 100k-entry apply signs on a worker
 * thread (SigningThread.ts), and building 100k objects and 100k proof strings
 * on the apply thread, then encoding them again into each value, cost the
 * apply thread more than the signing itself. The worker writes every
 * signature's JSON into one buffer it hands over (transferred, not copied);
 * the writer copies each entry's bytes straight into its value, and an object
 * is decoded only when someone asks for it.
 *
 * Law (test/laws/signing-thread.test.ts): for every entry, `json(i)` is the
 * UTF-8 of `signatureJson(signature(i))`, whichever thread signed.
 */
import type { EntrySignature } from "./SignedEntry.ts";

/**
 * An entry's signature as JSON text, members in a fixed order: the form it travels in (the
 * `sig` member of a desired value on NATS). Device and deployment names and base64url need no
 * escaping, but they go through JSON.stringify all the same: this is the one encoder.
 */
export const signatureJson = (s: EntrySignature): string =>
  `{"device":${JSON.stringify(s.device)},"deployment":${JSON.stringify(s.deployment)},"revision":${JSON.stringify(s.revision)},"index":${JSON.stringify(s.index)},"proof":${JSON.stringify(s.proof)},"jws":${JSON.stringify(s.jws)}}`;

export interface SignedBatch {
  readonly length: number;
  /** The i-th signature's `signatureJson`, UTF-8; a view into the batch's bytes, never to be written to. */
  json(i: number): Uint8Array;
  /** The i-th signature as an object (decoded on each call from a batch of bytes). */
  signature(i: number): EntrySignature;
}

/** A batch over signature objects (signed on the calling thread). */
export const batchOf = (sigs: ReadonlyArray<EntrySignature>): SignedBatch => ({
  length: sigs.length,
  json: (i) => Buffer.from(signatureJson(sigs[i] as EntrySignature), "utf8"),
  signature: (i) => sigs[i] as EntrySignature,
});

/**
 * A batch over the bytes of its signatures' JSON texts, one after another: `ends[i]` is where
 * the i-th ends. Only for bytes this process wrote with `signatureJson` (the signing thread's):
 * `signature(i)` parses them without a codec.
 */
export const batchOfBytes = (bytes: Uint8Array, ends: Uint32Array): SignedBatch => {
  const json = (i: number): Uint8Array => bytes.subarray(i === 0 ? 0 : (ends[i - 1] as number), ends[i] as number);
  return {
    length: ends.length,
    json,
    signature: (i) => {
      const b = json(i);
      return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8")) as EntrySignature;
    },
  };
};

/** Every signature of a batch as an object. */
export const signaturesOf = (b: SignedBatch): EntrySignature[] => Array.from({ length: b.length }, (_, i) => b.signature(i));

/** Writes the JSON texts of `sigs` into one buffer (its own memory, so that it can be transferred) with their ends. */
export const encodeBatch = (sigs: ReadonlyArray<EntrySignature>): { readonly bytes: Uint8Array; readonly ends: Uint32Array } => {
  const texts = sigs.map(signatureJson);
  const ends = new Uint32Array(texts.length);
  let total = 0;
  texts.forEach((t, i) => (ends[i] = total += Buffer.byteLength(t, "utf8")));
  const bytes = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const t of texts) at += bytes.write(t, at, "utf8");
  return { bytes, ends };
};
