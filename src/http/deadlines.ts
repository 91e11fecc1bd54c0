/**
 * Deadlines of one fixed length, for many requests at once, on a single timer.
 *
 * A timer per request (`setTimeout`, `AbortSignal.timeout`) costs a timer insert, a
 * cancel, and for `AbortSignal.timeout` a firing and a `DOMException` even after the
 * request has long finished: at tens of thousands of requests a second that was a
 * tenth of the CPU profile. Deadlines of equal length expire in the order they were
 * set, so a FIFO and one timer armed for its head are enough.
 *
 * @module
 */

import { assert } from "../assert.ts";
import { runtime } from "../runtime/current.ts";

/** A pending deadline; {@link cancel} it once the work finished in time. */
export interface Deadline {
  /** Stops the deadline from firing; safe to call twice or after it fired. */
  cancel(): void;
}

class Entry implements Deadline {
  constructor(
    private readonly queue: DeadlineQueue,
    readonly dueMs: number,
    public onExpire: (() => void) | null,
  ) {}
  cancel(): void {
    if (this.onExpire === null) return;
    this.onExpire = null;
    this.queue.settled();
  }
}

/** An armed one-shot timer of a {@link TimerSource}. */
export interface TimerHandle {
  /**
   * Whether the timer keeps the process alive (a real timer is unref'd while no deadline
   * is pending, so it holds no process or test open; a virtual one ignores this).
   */
  hold(keepAlive: boolean): void;
}

/** Where a {@link DeadlineQueue} gets its one timer (the simulator's runs on virtual time). */
export interface TimerSource {
  /** Calls `fn` once, `delayMs` from now. */
  after(delayMs: number, fn: () => void): TimerHandle;
}

/** The runtime's `setTimeout`. */
export const realTimers: TimerSource = {
  after(delayMs, fn) {
    const id = setTimeout(fn, delayMs);
    return {
      hold: (keepAlive) => keepAlive ? runtime.refTimer(id) : runtime.unrefTimer(id),
    };
  },
};

/** Compacts the FIFO once this many spent entries sit at its front. */
const COMPACT_AFTER = 1024;

/** Deadlines all `lengthMs` long, sharing one timer. */
export class DeadlineQueue {
  readonly #entries: Entry[] = [];
  #head = 0;
  #timer: TimerHandle | undefined;
  /** Entries neither cancelled nor fired. */
  #live = 0;

  /**
   * Every deadline set here fires `lengthMs` after it was set, by the clock `now` (in
   * ms) and the timers of `timers` (defaults: `performance.now` and `setTimeout`).
   */
  constructor(
    readonly lengthMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly timers: TimerSource = realTimers,
  ) {
    assert(lengthMs > 0 && Number.isFinite(lengthMs), "a deadline length is positive");
  }

  /** Deadlines neither cancelled nor fired. */
  get live(): number {
    return this.#live;
  }

  /** One entry was cancelled. */
  settled(): void {
    assert(this.#live > 0, "more deadlines settled than set");
    if (--this.#live > 0) return;
    // Nothing pending: the FIFO empties, and the timer stays armed (re-arming it for
    // every request cost more than letting it fire once for nothing) but stops holding
    // the process open, or a test's leak check.
    this.#entries.length = 0;
    this.#head = 0;
    this.#timer?.hold(false);
  }

  /** Calls `onExpire` once, `lengthMs` from now, unless cancelled first. */
  add(onExpire: () => void): Deadline {
    const entry = new Entry(this, this.now() + this.lengthMs, onExpire);
    this.#entries.push(entry);
    if (this.#live++ === 0) this.#timer?.hold(true);
    if (this.#timer === undefined) this.#arm(entry.dueMs);
    return entry;
  }

  /** An AbortSignal that aborts with a `TimeoutError` at the deadline. */
  signal(): { signal: AbortSignal; deadline: Deadline } {
    const controller = new AbortController();
    const deadline = this.add(() =>
      controller.abort(new DOMException("the request deadline passed", "TimeoutError"))
    );
    return { signal: controller.signal, deadline };
  }

  #arm(dueMs: number): void {
    this.#timer = this.timers.after(Math.max(0, dueMs - this.now()), () => this.#fire());
    if (this.#live === 0) this.#timer.hold(false);
  }

  #fire(): void {
    this.#timer = undefined;
    const now = this.now();
    const entries = this.#entries;
    while (this.#head < entries.length) {
      const entry = entries[this.#head]!;
      if (entry.onExpire !== null && entry.dueMs > now) break;
      this.#head++;
      const onExpire = entry.onExpire;
      if (onExpire === null) continue;
      entry.onExpire = null;
      this.#live--;
      onExpire();
    }
    if (this.#head >= COMPACT_AFTER || this.#head === entries.length) {
      entries.splice(0, this.#head);
      this.#head = 0;
    }
    // Cancelled entries still sit in the FIFO; the next live one (or the next
    // cancelled one, which is skipped then) decides when to look again.
    const next = entries[this.#head];
    if (next !== undefined && this.#timer === undefined) this.#arm(next.dueMs);
  }
}

/** Most distinct lengths kept by {@link deadlinesOf}; a node uses two or three. */
const MAX_SHARED_LENGTHS = 64;
const shared = new Map<number, DeadlineQueue>();

/** The process-wide queue for deadlines of `lengthMs`. */
export function deadlinesOf(lengthMs: number): DeadlineQueue {
  let queue = shared.get(lengthMs);
  if (queue === undefined) {
    assert(shared.size < MAX_SHARED_LENGTHS, "deadline lengths come from configuration");
    queue = new DeadlineQueue(lengthMs);
    shared.set(lengthMs, queue);
  }
  return queue;
}
