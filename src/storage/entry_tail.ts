/**
 * The newest entries, kept in memory so the core's hot reads (replication to
 * followers that keep up) never touch disk. Bounded both in entries and in bytes.
 *
 * @module
 */

import { assert } from "../assert.ts";
import type { Entry } from "../raft/messages.ts";

/** Contiguous newest entries, trimmed from the front to stay within its limits. */
export class EntryTail {
  #entries: Entry[] = [];
  #start = 0;
  #bytes = 0;

  /** A tail of at most `maxEntries` entries and `maxBytes` of entry data. */
  constructor(readonly maxEntries: number, readonly maxBytes: number) {}

  /** First index held, or undefined when empty. */
  first(): number | undefined {
    return this.#entries[this.#start]?.index;
  }

  /** The entry at `index` if held. */
  get(index: number): Entry | undefined {
    const first = this.first();
    if (first === undefined || index < first) return undefined;
    return this.#entries[this.#start + index - first];
  }

  /** Adds entries that follow (or overwrite part of) the tail, then trims it. */
  append(entries: readonly Entry[]): void {
    const head = entries[0];
    if (head === undefined) return;
    this.truncateFrom(head.index);
    const last = this.#entries[this.#entries.length - 1];
    if (last !== undefined && last.index + 1 !== head.index) this.clear();
    for (const e of entries) {
      this.#entries.push(e);
      this.#bytes += e.data.length;
    }
    this.#trim();
  }

  /** Drops entries at or after `index`. */
  truncateFrom(index: number): void {
    while (this.#entries.length > this.#start) {
      const e = this.#entries[this.#entries.length - 1] as Entry;
      if (e.index < index) break;
      this.#bytes -= e.data.length;
      this.#entries.pop();
    }
  }

  /** Drops entries below `index` (they were compacted away). */
  dropBefore(index: number): void {
    while (this.#start < this.#entries.length) {
      const e = this.#entries[this.#start] as Entry;
      if (e.index >= index) break;
      this.#dropFirst(e);
    }
    this.#compact();
  }

  /** Empties the tail. */
  clear(): void {
    this.#entries = [];
    this.#start = 0;
    this.#bytes = 0;
  }

  #trim(): void {
    while (this.#entries.length - this.#start > 1) {
      const e = this.#entries[this.#start] as Entry;
      const count = this.#entries.length - this.#start;
      if (count <= this.maxEntries && this.#bytes <= this.maxBytes) break;
      this.#dropFirst(e);
    }
    this.#compact();
  }

  #dropFirst(e: Entry): void {
    this.#bytes -= e.data.length;
    this.#start++;
  }

  #compact(): void {
    // Drop the consumed prefix once it dominates, keeping trims amortized O(1).
    if (this.#start > 1024 && this.#start * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
    if (this.#start === this.#entries.length) this.clear();
    assert(this.#bytes >= 0, "tail byte count went negative");
  }
}
