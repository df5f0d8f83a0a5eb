import { describe, expect } from "vitest";
import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { leafHash, merkleTree, rootFromProof, verifyInclusion } from "../../src/trust/Merkle.ts";

const leaves = fc.array(fc.string(), { minLength: 1, maxLength: 70 }).map((xs) => xs.map((x, i) => leafHash(`${i}:${x}`)));
const treeAndIndex = leaves.chain((ls) => fc.tuple(fc.constant(ls), fc.nat({ max: ls.length - 1 })));

describe("Merkle tree laws", () => {
  test.prop([treeAndIndex])("every leaf's proof verifies against the root", ([ls, i]) => {
    const t = merkleTree(ls);
    expect(verifyInclusion(ls[i]!, i, t.size, t.proofs[i]!, t.root)).toBe(true);
  });

  test.prop([treeAndIndex, fc.nat()])("a proof verifies for no other leaf", ([ls, i], salt) => {
    const t = merkleTree(ls);
    expect(verifyInclusion(leafHash(`other:${salt}`), i, t.size, t.proofs[i]!, t.root)).toBe(false);
  });

  test.prop([treeAndIndex, fc.integer({ min: -3, max: 80 })])("a proof verifies at no other index", ([ls, i], j) => {
    fc.pre(j !== i);
    const t = merkleTree(ls);
    // Leaves are distinct, so a proof that verified elsewhere would be a second preimage.
    expect(verifyInclusion(ls[i]!, j, t.size, t.proofs[i]!, t.root)).toBe(false);
  });

  // No law for "another tree size": as in RFC 9162, an inclusion proof does not bind the size (a leaf's path
  // in trees of 6 and 7 leaves can give the same root); the size is bound by the signed batch claims instead.

  test.prop([treeAndIndex, fc.nat(), fc.nat({ max: 255 })])("changing one byte of a proof breaks it", ([ls, i], at, bit) => {
    const t = merkleTree(ls);
    const proof = t.proofs[i]!.map((d) => Buffer.from(d));
    fc.pre(proof.length > 0);
    const d = proof[at % proof.length]!;
    d[at % 32] = (d[at % 32]! ^ (1 << (bit % 8))) & 0xff;
    expect(verifyInclusion(ls[i]!, i, t.size, proof, t.root)).toBe(false);
  });

  test.prop([leaves, fc.nat()])("the root commits to every leaf and to their order", (ls, at) => {
    const root = merkleTree(ls).root;
    const changed = [...ls];
    changed[at % ls.length] = leafHash(`changed:${at}`);
    expect(merkleTree(changed).root.equals(root)).toBe(false);
    if (ls.length > 1) {
      const swapped = [...ls];
      const k = at % (ls.length - 1);
      [swapped[k], swapped[k + 1]] = [swapped[k + 1]!, swapped[k]!];
      expect(merkleTree(swapped).root.equals(root)).toBe(false);
    }
  });

  test.prop([leaves])("a proof has at most ⌈log₂ n⌉ siblings", (ls) => {
    const t = merkleTree(ls);
    const bound = Math.ceil(Math.log2(ls.length));
    for (const p of t.proofs) expect(p.length).toBeLessThanOrEqual(bound);
  });

  test.prop([treeAndIndex])("rootFromProof rebuilds the root", ([ls, i]) => {
    const t = merkleTree(ls);
    expect(rootFromProof(ls[i]!, i, t.size, t.proofs[i]!)?.equals(t.root)).toBe(true);
  });
});
