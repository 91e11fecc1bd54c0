/**
 * The exactly-once table: idempotency key → the result of its first apply. Bounded in
 * count (oldest evicted first) and in age on the leader-stamped clock, so a client
 * retry inside the window gets the original answer and the table cannot grow forever.
 *
 * Entries are appended with a non-decreasing clock, so the Map's insertion order is
 * also age order: expiry and eviction both pop from the front in O(1).
 *
 * @module
 */

import { invariant } from "./invariant.ts";
import type { ApplyResult } from "./types.ts";

/** Default bound on remembered idempotency keys. */
export const DEFAULT_DEDUP_ENTRIES = 100_000;
/** Default time an idempotency key is remembered, on the leader clock. */
export const DEFAULT_DEDUP_TTL_MS = 10 * 60 * 1000;

/** One remembered outcome, as stored and as carried in snapshots. */
export interface DedupEntry {
  key: string;
  /** Store clock when the key was first applied. */
  atMs: number;
  result: ApplyResult;
}

/** A bounded, clock-expiring map from idempotency key to its first result. */
export class DedupTable {
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, DedupEntry>();
  #lastAtMs = 0;

  /** Creates an empty table holding at most `maxEntries` for `ttlMs` each. */
  constructor(maxEntries: number, ttlMs: number) {
    invariant(Number.isSafeInteger(maxEntries), "dedupEntries must be an integer");
    invariant(maxEntries >= 0, "dedupEntries must be >= 0");
    invariant(Number.isSafeInteger(ttlMs), "dedupTtlMs must be an integer");
    invariant(ttlMs >= 0, "dedupTtlMs must be >= 0");
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
  }

  /** Number of remembered keys. */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops entries older than the TTL at `clockMs` (the store's monotonic clock). */
  expire(clockMs: number): void {
    for (const [key, entry] of this.#entries) {
      if (clockMs - entry.atMs <= this.#ttlMs) break;
      this.#entries.delete(key);
    }
  }

  /** The stored result for `key`, if it is still remembered. */
  get(key: string): ApplyResult | undefined {
    return this.#entries.get(key)?.result;
  }

  /** Remembers `key`'s first result, evicting the oldest entry when full. */
  remember(key: string, atMs: number, result: ApplyResult): void {
    invariant(!this.#entries.has(key), "a remembered key is never applied twice");
    invariant(atMs >= this.#lastAtMs, "dedup entries arrive in clock order");
    if (this.#maxEntries === 0) return;
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      invariant(oldest.done !== true, "a full table has an oldest entry");
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { key, atMs, result });
    this.#lastAtMs = atMs;
  }

  /** A copy of the entries, oldest first (entries themselves are never mutated). */
  entries(): DedupEntry[] {
    return Array.from(this.#entries.values());
  }

  /** Rebuilds a table from snapshot entries, oldest first. */
  static from(entries: Iterable<DedupEntry>, maxEntries: number, ttlMs: number): DedupTable {
    const table = new DedupTable(maxEntries, ttlMs);
    for (const entry of entries) table.remember(entry.key, entry.atMs, entry.result);
    return table;
  }
}
