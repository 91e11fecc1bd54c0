/**
 * The key order is UTF-16 code unit order, compared with `<` directly: these tests pin
 * that `compareKeys` (and the tree built on it) give exactly the order of a reference
 * comparator that walks code units one by one, so a faster comparator can never change
 * the order replicas, lists and snapshots rely on.
 */

import assert from "node:assert/strict";
import { compareKeys, newKeyTree } from "../../src/kv/btree.ts";

/** The reference: lexicographic over UTF-16 code units, shorter prefix first. */
function referenceCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** A small seeded PRNG (mulberry32), so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Code units that stress the order: ASCII, separators, Latin-1, BMP, surrogates. */
const UNITS = [0x00, 0x2f, 0x30, 0x41, 0x61, 0x7f, 0xe9, 0xff, 0x4e2d, 0xd83d, 0xde00, 0xfffd];

function randomKey(random: () => number): string {
  const length = Math.floor(random() * 6);
  let key = "";
  for (let i = 0; i < length; i++) {
    key += String.fromCharCode(
      random() < 0.7 ? UNITS[Math.floor(random() * UNITS.length)]! : Math.floor(random() * 0x10000),
    );
  }
  return key;
}

Deno.test("compareKeys gives UTF-16 code unit order, the same as the reference, pair by pair", () => {
  const seed = 19;
  const random = prng(seed);
  for (let i = 0; i < 20_000; i++) {
    const a = randomKey(random);
    const b = random() < 0.1 ? a : randomKey(random);
    assert.equal(
      compareKeys(a, b),
      referenceCompare(a, b),
      `seed ${seed}, pair ${i}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
    );
  }
});

Deno.test("the key tree iterates in the reference order (surrogate pairs sort by code unit, not code point)", () => {
  const seed = 1919;
  const random = prng(seed);
  const tree = newKeyTree<number>();
  const keys = new Set<string>(["", "a", "a/", "a/b", "b", "\u{1F600}", "\uFFFD", "\uE000"]);
  while (keys.size < 2_000) keys.add(randomKey(random));
  for (const key of keys) tree.set(key, 0);
  const expected = [...keys].sort(referenceCompare);
  assert.deepEqual([...tree.keys()], expected, `seed ${seed}`);
  // Code unit order puts U+1F600 (a surrogate pair, 0xD83D…) before U+E000 and U+FFFD.
  assert.ok(expected.indexOf("\u{1F600}") < expected.indexOf("\uE000"));
});
