/**
 * Recent change history for watchers: a ring of the newest {@link WatchEvent}s,
 * bounded in both count and bytes. A watcher resuming from a revision the ring no
 * longer reaches gets `revision_compacted` and must re-read and re-watch.
 *
 * @module
 */

import { invariant } from "./invariant.ts";
import { RaftkvError } from "../errors.ts";
import type { WatchEvent } from "./types.ts";

/** Default number of events kept. */
export const DEFAULT_WATCH_HISTORY = 10_000;
/** Default bound on the value bytes the ring keeps alive (values can be 1 MiB each). */
export const DEFAULT_WATCH_HISTORY_BYTES = 64 * 1024 * 1024;
/** Per-event bookkeeping counted against the byte bound. */
const EVENT_OVERHEAD_BYTES = 64;

/** A bounded, revision-ordered history of watch events. */
export class WatchRing {
  readonly #capacity: number;
  readonly #maxBytes: number;
  readonly #slots: (WatchEvent | undefined)[];
  #head = 0; // index of the oldest event
  #count = 0;
  #bytes = 0;
  #compactedRevision: number;

  /**
   * Creates an empty ring. `compactedRevision` is the newest revision whose events are
   * NOT all held (0 for a fresh store; the snapshot revision after a restore).
   */
  constructor(capacity: number, maxBytes: number, compactedRevision: number) {
    invariant(Number.isSafeInteger(capacity), "watchHistory must be an integer");
    invariant(capacity >= 1, "watchHistory must be >= 1");
    invariant(maxBytes >= 1, "watchHistoryBytes must be >= 1");
    this.#capacity = capacity;
    this.#maxBytes = maxBytes;
    this.#slots = new Array(capacity);
    this.#compactedRevision = compactedRevision;
  }

  /** Events with revision <= this are gone; `eventsSince` answers from this + 1. */
  get compactedRevision(): number {
    return this.#compactedRevision;
  }

  /** Number of events held. */
  get length(): number {
    return this.#count;
  }

  /**
   * Appends an event (revisions never decrease), evicting the oldest as needed. One
   * change can emit more events than the ring holds (a prefix delete of many keys): once
   * its revision has lost events it is compacted, and its remaining events are dropped.
   */
  push(event: WatchEvent): void {
    const newest = this.#at(this.#count - 1);
    invariant(newest === undefined || event.revision >= newest.revision, "revisions are ordered");
    invariant(
      event.revision >= this.#compactedRevision,
      "events arrive after the compaction point",
    );
    if (event.revision === this.#compactedRevision) return;
    if (this.#count === this.#capacity) this.#evictOldest();
    this.#slots[(this.#head + this.#count) % this.#capacity] = event;
    this.#count += 1;
    this.#bytes += eventBytes(event);
    while (this.#bytes > this.#maxBytes && this.#count > 0) this.#evictOldest();
  }

  /**
   * Events with revision >= `fromRevision` whose key starts with `prefix`, oldest first.
   * Throws `revision_compacted` if some of those events are no longer held.
   */
  since(fromRevision: number, prefix: string): WatchEvent[] {
    if (fromRevision <= this.#compactedRevision) {
      throw new RaftkvError(
        "revision_compacted",
        `revision ${fromRevision} is compacted; history starts at ${this.#compactedRevision + 1}`,
      );
    }
    const out: WatchEvent[] = [];
    for (let i = this.#firstAtOrAfter(fromRevision); i < this.#count; i++) {
      const event = this.#at(i);
      invariant(event !== undefined, "ring slots in range are filled");
      if (event.key.startsWith(prefix)) out.push(event);
    }
    return out;
  }

  #at(offset: number): WatchEvent | undefined {
    if (offset < 0 || offset >= this.#count) return undefined;
    return this.#slots[(this.#head + offset) % this.#capacity];
  }

  /** Binary search: offset of the first event with revision >= `revision`. */
  #firstAtOrAfter(revision: number): number {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const event = this.#at(mid);
      invariant(event !== undefined, "ring slots in range are filled");
      if (event.revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #evictOldest(): void {
    const oldest = this.#slots[this.#head];
    invariant(oldest !== undefined, "the ring's oldest slot holds an event");
    invariant(this.#count > 0, "evicting from a non-empty ring");
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#count -= 1;
    this.#bytes -= eventBytes(oldest);
    // Other events of the same revision may remain, but that revision is now incomplete.
    this.#compactedRevision = oldest.revision;
  }
}

function eventBytes(event: WatchEvent): number {
  return EVENT_OVERHEAD_BYTES + event.key.length * 2 + (event.value?.byteLength ?? 0);
}
