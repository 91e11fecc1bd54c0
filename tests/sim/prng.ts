/**
 * A small seeded pseudo-random generator (sfc32) for the simulator. Every random choice a
 * run makes flows from one seed, so a failing run replays exactly with `--seed S`.
 *
 * @module
 */

import assert from "node:assert/strict";

const UINT32_RANGE = 4294967296;
/** Rounds discarded after seeding so that nearby seeds diverge at once. */
const WARMUP_ROUNDS = 15;

/** Deterministic generator: same seed, same sequence, on every platform. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Seeds the generator; any integer (also negative or above 2^32) is accepted. */
  constructor(seed: number) {
    assert(Number.isFinite(seed), "seed must be a finite number");
    const lo = seed >>> 0;
    const hi = Math.floor(seed / UINT32_RANGE) >>> 0;
    this.#a = 0x9e3779b9;
    this.#b = lo;
    this.#c = hi ^ 0x243f6a88;
    this.#d = 1;
    for (let i = 0; i < WARMUP_ROUNDS; i++) this.nextUint32();
  }

  /** The next value in [0, 2^32). */
  nextUint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.nextUint32() / UINT32_RANGE;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    assert(Number.isInteger(n) && n > 0, `int(n) needs a positive integer, got ${n}`);
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): number {
    assert(hi >= lo, `range(${lo}, ${hi}) is empty`);
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick() from an empty array");
    return items[this.int(items.length)] as T;
  }

  /** A new array with the same elements in random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /** An index chosen with probability proportional to `weights[i]` (all ≥ 0, sum > 0). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    assert(total > 0, "weighted() needs a positive total weight");
    let r = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** An independent generator derived from this one (e.g. one per node). */
  fork(): Prng {
    return new Prng(this.nextUint32() * UINT32_RANGE + this.nextUint32());
  }
}
