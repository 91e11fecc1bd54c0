/**
 * A counting limit on concurrent watches, so a burst of watchers cannot exhaust a
 * node's memory or file descriptors.
 *
 * @module
 */

import { assert } from "../assert.ts";

/** Counts open watches against a fixed cap. */
export class WatcherSlots {
  /** The cap. */
  readonly max: number;
  #open = 0;

  /** Creates a limiter allowing `max` open watches. */
  constructor(max: number) {
    assert(Number.isSafeInteger(max) && max >= 0, "maxWatchers is a non-negative integer");
    this.max = max;
  }

  /** Watches open now. */
  get open(): number {
    return this.#open;
  }

  /** Takes a slot; false when all are taken. */
  tryAcquire(): boolean {
    if (this.#open >= this.max) return false;
    this.#open++;
    return true;
  }

  /** Gives back a slot taken with {@link tryAcquire}. */
  release(): void {
    assert(this.#open > 0, "released a watcher slot that was never taken");
    this.#open--;
  }
}
