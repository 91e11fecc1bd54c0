/**
 * A min-heap of timed events for the simulator's virtual clock. Ties on time break by
 * insertion order, so runs stay deterministic whatever the heap layout.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Upper bound on queued events; a run that exceeds it has a message storm (a bug). */
export const MAX_QUEUED_EVENTS = 1_000_000;

interface Slot<T> {
  atMs: number;
  seq: number;
  value: T;
}

/** Timed events popped in (time, insertion) order. */
export class EventQueue<T> {
  #heap: Slot<T>[] = [];
  #seq = 0;

  /** Number of queued events. */
  get size(): number {
    return this.#heap.length;
  }

  /** Queues `value` to fire at virtual time `atMs`. */
  push(atMs: number, value: T): void {
    assert(this.#heap.length < MAX_QUEUED_EVENTS, "event queue overflow");
    const heap = this.#heap;
    heap.push({ atMs, seq: this.#seq++, value });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i] as Slot<T>, heap[parent] as Slot<T>)) break;
      swap(heap, i, parent);
      i = parent;
    }
  }

  /** Time of the earliest event, or Infinity when empty. */
  peekTime(): number {
    return this.#heap[0]?.atMs ?? Infinity;
  }

  /** Removes and returns the earliest event. */
  pop(): { atMs: number; value: T } | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop() as Slot<T>;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l] as Slot<T>, heap[m] as Slot<T>)) m = l;
        if (r < heap.length && less(heap[r] as Slot<T>, heap[m] as Slot<T>)) m = r;
        if (m === i) break;
        swap(heap, i, m);
        i = m;
      }
    }
    return { atMs: top.atMs, value: top.value };
  }

  /** Drops every event for which `keep` returns false (used when a node crashes). */
  filter(keep: (value: T) => boolean): void {
    const kept = this.#heap.filter((s) => keep(s.value));
    this.#heap = [];
    kept.sort((a, b) => (less(a, b) ? -1 : 1));
    this.#heap = kept; // a sorted array is a valid heap
  }

  /** Every queued value, in no particular order. */
  values(): T[] {
    return this.#heap.map((s) => s.value);
  }
}

function less<T>(a: Slot<T>, b: Slot<T>): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

function swap<T>(heap: Slot<T>[], i: number, j: number): void {
  const tmp = heap[i] as Slot<T>;
  heap[i] = heap[j] as Slot<T>;
  heap[j] = tmp;
}
