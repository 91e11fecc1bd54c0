/**
 * The node's one source of time and timers. Every time read in `src/node/` goes through
 * a {@link NodeClock}: the real one reads the wall clock and uses `setInterval`; the
 * simulator passes a virtual one and calls the ticker itself, so a run replays exactly.
 * This is the one file in `src/node/` that may name the runtime's clock and timers
 * (`tests/node/clock_purity_test.ts` checks it); the startup retries in `join.ts` and
 * `founder_check.ts` get theirs from here through `main.ts`.
 *
 * @module
 */

import { realTimers, type TimerSource } from "../http/deadlines.ts";

export type { TimerSource };

/** A repeating timer that can be stopped. */
export interface Ticker {
  /** Stops the timer; further calls do nothing. */
  cancel(): void;
}

/** Starts repeating timers (the node's tick). */
export interface Scheduler {
  /** Calls `fn` every `intervalMs` until cancelled. */
  every(intervalMs: number, fn: () => void): Ticker;
}

/** Time and timers as the node sees them. */
export interface NodeClock {
  /** Wall-clock milliseconds: stamped into entries for TTLs, and every deadline. */
  now(): number;
  /** A monotonic clock for durations only (metrics timing), in milliseconds. */
  monotonicMs(): number;
  /** Where the tick comes from. */
  scheduler: Scheduler;
  /** One-shot timers on the same clock as `monotonicMs` (the write deadlines). */
  timers: TimerSource;
}

/** `setInterval`, the scheduler real nodes use. */
export const intervalScheduler: Scheduler = {
  every(intervalMs, fn) {
    const id = setInterval(fn, intervalMs);
    return { cancel: () => clearInterval(id) };
  },
};

/** Resolves `delayMs` from now on `timers`' clock (a pause between retries, not a poll). */
export function sleep(timers: TimerSource, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    timers.after(delayMs, resolve);
  });
}

/** The real clock, with any of its parts replaced (tests replace `now`). */
export function nodeClock(parts: Partial<NodeClock> = {}): NodeClock {
  return {
    now: parts.now ?? Date.now,
    monotonicMs: parts.monotonicMs ?? (() => performance.now()),
    scheduler: parts.scheduler ?? intervalScheduler,
    timers: parts.timers ?? realTimers,
  };
}
