/**
 * A small seeded PRNG (mulberry32) so every fuzz run can be replayed from its seed.
 *
 * @module
 */

/** Deterministic random choices from a 32-bit seed. */
export class Prng {
  #state: number;

  /** Starts the sequence of `seed` (any integer; only its low 32 bits count). */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
}

/** The seed from `FUZZ_SEED`, else a fresh random one. */
export function fuzzSeed(): number {
  const given = Deno.env.get("FUZZ_SEED");
  if (given !== undefined) {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${given}`);
    return seed;
  }
  return crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
}
