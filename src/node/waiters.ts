/**
 * Callers waiting for the node's state to reach a condition (a transfer's target leads,
 * a hand-off left leadership), with a deadline on the node's clock. The Ready loop calls
 * {@link ConditionWaiters.check} after every `advance()` (where soft state changes) and
 * on every tick (where deadlines pass): no caller sleeps and polls.
 *
 * @module
 */

/** Most callers waiting at once (transfers and hand-offs are admin operations). */
export const MAX_CONDITION_WAITERS = 1024;

interface Waiter {
  done: () => boolean;
  deadlineMs: number;
  settle: (met: boolean) => void;
}

/** A set of conditions checked by the loop. */
export class ConditionWaiters {
  readonly #now: () => number;
  #waiters: Waiter[] = [];

  /** Waiters whose deadlines are read from `now`. */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** Number of callers waiting. */
  get size(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves true once `done()` holds (checked now and at each {@link check}), false at
   * `deadlineMs` or when `signal` aborts.
   */
  wait(done: () => boolean, deadlineMs: number, signal?: AbortSignal): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    if (signal?.aborted || this.#waiters.length >= MAX_CONDITION_WAITERS) {
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        waiter.settle(false);
      };
      const waiter: Waiter = {
        done,
        deadlineMs,
        settle: (met) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(met);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Settles every waiter whose condition holds (true) or whose deadline passed (false). */
  check(): void {
    if (this.#waiters.length === 0) return;
    const now = this.#now();
    const still: Waiter[] = [];
    const settled: [Waiter, boolean][] = [];
    for (const w of this.#waiters) {
      if (w.done()) settled.push([w, true]);
      else if (now >= w.deadlineMs) settled.push([w, false]);
      else still.push(w);
    }
    this.#waiters = still;
    for (const [w, met] of settled) w.settle(met);
  }

  /** Settles every waiter with false (the node stops). */
  failAll(): void {
    const all = this.#waiters;
    this.#waiters = [];
    for (const w of all) w.settle(false);
  }
}
