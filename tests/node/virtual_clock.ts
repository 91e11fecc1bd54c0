/**
 * A virtual clock for the node's startup paths (join, the founder check): time stands
 * still until the test advances it, and timers fire in due order as it does.
 *
 * @module
 */

import type { NodeClock, TimerSource } from "../../src/node/clock.ts";

/** Virtual time plus the timers armed on it. */
export class VirtualClock implements Pick<NodeClock, "monotonicMs" | "timers"> {
  #nowMs = 0;
  #seq = 0;
  #pending: { atMs: number; seq: number; fire: () => void }[] = [];

  /** The virtual time, in ms since the clock was made. */
  readonly monotonicMs = (): number => this.#nowMs;

  /** One-shot timers on virtual time; they hold no process open. */
  readonly timers: TimerSource = {
    after: (delayMs, fire) => {
      this.#pending.push({ atMs: this.#nowMs + Math.max(0, delayMs), seq: this.#seq++, fire });
      return { hold: () => {} };
    },
  };

  /** Timers armed and not fired yet. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Moves time forward by `ms` (a slow request, say) without firing anything. */
  pass(ms: number): void {
    this.#nowMs += ms;
  }

  /** Jumps to the earliest pending timer and fires it; false when none is armed. */
  fireNext(): boolean {
    this.#pending.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    const next = this.#pending.shift();
    if (next === undefined) return false;
    this.#nowMs = Math.max(this.#nowMs, next.atMs);
    next.fire();
    return true;
  }

  /**
   * Runs `work` to completion: whenever it is waiting (every promise settled that could
   * settle), fires the next timer. Fails after `maxTimers` timers, so a loop that never
   * ends cannot hang the test.
   */
  async run<T>(work: Promise<T>, maxTimers = 100_000): Promise<T> {
    let done = false;
    const result = work.finally(() => (done = true));
    result.catch(() => {}); // observed below; keep an early rejection from going unhandled
    for (let fired = 0; !done; fired++) {
      // A macrotask boundary: every pending microtask (fake fetch answers) runs first.
      await new Promise((r) => setTimeout(r, 0));
      if (done) break;
      if (fired >= maxTimers || !this.fireNext()) {
        throw new Error(`the work neither finished nor armed a timer (${fired} fired)`);
      }
    }
    return await result;
  }
}
