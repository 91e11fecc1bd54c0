/**
 * The in-memory index of the live log: which WAL record holds each index, and every
 * live entry's term (the core asks for terms constantly; they must never hit disk).
 *
 * Records are indexed per batch (log index → segment, byte offset, record length);
 * a cold read fetches and decodes the whole batch record. Parallel number arrays keep
 * a million-entry log compact.
 *
 * @module
 */

import { assert } from "../assert.ts";

/** Where one live batch lives on disk. */
export interface BatchLocation {
  /** First index of the batch (only suffixes are ever cut, so also its first written). */
  firstIndex: number;
  /** Live entries (fewer than written if a later batch overwrote its suffix). */
  count: number;
  /** The segment's name: the first index it was created for. */
  segment: number;
  /** Byte offset of the record in the segment file. */
  offset: number;
  /** Whole record length in bytes (header included). */
  length: number;
}

/** Live batches and terms of the log, contiguous from `first()` to `last()`. */
export class LogIndex {
  #firsts: number[] = [];
  #counts: number[] = [];
  #segments: number[] = [];
  #offsets: number[] = [];
  #lengths: number[] = [];
  #terms: number[] = [];
  /** Index of `#terms[0]`; with an empty log, the index the next entry must take. */
  #base: number;

  /** An empty index whose next entry is `next`. */
  constructor(next = 1) {
    this.#base = next;
  }

  /** First live index, or `last() + 1` when empty. */
  first(): number {
    return this.#base;
  }

  /** Last live index, or `first() - 1` when empty. */
  last(): number {
    return this.#base + this.#terms.length - 1;
  }

  /** Number of live entries. */
  size(): number {
    return this.#terms.length;
  }

  /** Term of a live entry, or undefined outside [first, last]. */
  term(index: number): number | undefined {
    return this.#terms[index - this.#base];
  }

  /** Forgets everything; the next entry must be `next`. */
  reset(next: number): void {
    this.#firsts = [];
    this.#counts = [];
    this.#segments = [];
    this.#offsets = [];
    this.#lengths = [];
    this.#terms = [];
    this.#base = next;
  }

  /**
   * Adds a batch record starting at `firstIndex` (≤ last + 1: any live suffix from
   * there is overwritten). `termRuns` are (term, runLength) pairs.
   */
  append(
    firstIndex: number,
    termRuns: readonly number[],
    segment: number,
    offset: number,
    length: number,
  ): void {
    if (this.#terms.length === 0) this.#base = firstIndex;
    assert(firstIndex <= this.last() + 1, "batch leaves an index gap");
    assert(firstIndex >= this.#base, "batch overwrites below the first live index");
    this.truncateFrom(firstIndex);
    let count = 0;
    for (let i = 0; i < termRuns.length; i += 2) {
      const term = termRuns[i] as number;
      const run = termRuns[i + 1] as number;
      for (let k = 0; k < run; k++) this.#terms.push(term);
      count += run;
    }
    this.#firsts.push(firstIndex);
    this.#counts.push(count);
    this.#segments.push(segment);
    this.#offsets.push(offset);
    this.#lengths.push(length);
  }

  /** Discards every live entry at or after `index`. */
  truncateFrom(index: number): void {
    if (index > this.last()) return;
    this.#terms.length = Math.max(0, index - this.#base);
    while (this.#firsts.length > 0) {
      const k = this.#firsts.length - 1;
      const first = this.#firsts[k] as number;
      if (first >= index) {
        this.#popBatch();
        continue;
      }
      this.#counts[k] = Math.min(this.#counts[k] as number, index - first);
      break;
    }
  }

  #popBatch(): void {
    this.#firsts.pop();
    this.#counts.pop();
    this.#segments.pop();
    this.#offsets.pop();
    this.#lengths.pop();
  }

  /** Location of the live batch holding `index`, or undefined if it is not live. */
  locate(index: number): BatchLocation | undefined {
    if (index < this.#base || index > this.last()) return undefined;
    let lo = 0;
    let hi = this.#firsts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#firsts[mid] as number) <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.#at(lo);
  }

  #at(k: number): BatchLocation {
    return {
      firstIndex: this.#firsts[k] as number,
      count: this.#counts[k] as number,
      segment: this.#segments[k] as number,
      offset: this.#offsets[k] as number,
      length: this.#lengths[k] as number,
    };
  }

  /** The highest live index stored in each segment that still holds live entries. */
  lastIndexBySegment(): Map<number, number> {
    const out = new Map<number, number>();
    for (let k = 0; k < this.#firsts.length; k++) {
      const last = (this.#firsts[k] as number) + (this.#counts[k] as number) - 1;
      out.set(this.#segments[k] as number, last);
    }
    return out;
  }

  /** Drops the live batches held in segments named below `segment` (compaction). */
  dropSegmentsBelow(segment: number): void {
    let k = 0;
    while (k < this.#segments.length && (this.#segments[k] as number) < segment) k++;
    if (k === 0) return;
    const newBase = k < this.#firsts.length ? this.#firsts[k] as number : this.last() + 1;
    this.#terms.splice(0, newBase - this.#base);
    this.#base = newBase;
    for (const a of this.#arrays()) a.splice(0, k);
  }

  #arrays(): number[][] {
    return [
      this.#firsts,
      this.#counts,
      this.#segments,
      this.#offsets,
      this.#lengths,
    ];
  }
}
