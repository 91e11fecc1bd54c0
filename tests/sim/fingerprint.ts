/**
 * Cheap 32-bit fingerprints of entries and a running digest of applied state. The
 * invariant checker compares numbers instead of byte arrays so that checking after every
 * step stays affordable; a collision could only hide a bug, never invent one.
 *
 * @module
 */

import type { Entry } from "../../src/raft/messages.ts";

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a of `bytes`, seeded with `seed`. */
export function hashBytes(bytes: Uint8Array, seed: number = FNV_OFFSET): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h;
}

/** Mixes a number into a hash state. */
export function mix(h: number, value: number): number {
  let x = (h ^ (value >>> 0)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Identity of an entry's payload (type + data), independent of its position. */
export function entryFingerprint(e: Entry): number {
  return mix(hashBytes(e.data), e.type + 1);
}

/** The applied-state digest after applying entry (index, term, fp) on top of `prev`. */
export function chainDigest(prev: number, index: number, term: number, fp: number): number {
  return mix(mix(mix(prev, index), term), fp);
}

const decoder = new TextDecoder();

/** A short printable form of an entry's data, for traces. */
export function describeData(e: Entry): string {
  if (e.data.length === 0) return "noop";
  if (e.type !== 0) return `cc(${e.data.length}B)`;
  const text = decoder.decode(e.data.subarray(0, 24));
  return /^[\x20-\x7e]*$/.test(text) ? text : `${e.data.length}B`;
}
