/**
 * A small seeded pseudo-random generator (mulberry32). The core draws all of its
 * randomness (election timeouts) from here so that runs replay exactly from a seed.
 *
 * @module
 */

/** Deterministic 32-bit generator; the same seed yields the same sequence. */
export class Prng {
  private state: number;

  /** Creates a generator from any number (only its low 32 bits matter). */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next value, uniform in [0, 2^32). */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform integer in [lo, hi); requires lo < hi. */
  intBetween(lo: number, hi: number): number {
    return lo + (this.nextU32() % (hi - lo));
  }
}
