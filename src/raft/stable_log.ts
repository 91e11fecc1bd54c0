/**
 * The core's read-only view of durable storage. The core never writes: the host makes
 * `Ready` contents durable and visible here before calling `advance()`.
 *
 * Every method is synchronous so that the core stays synchronous. Implementations keep
 * recent entries in memory; reads of older entries (a follower catching up) may hit the
 * disk through a cache.
 *
 * @module
 */

import type { ConfState, Entry, HardState, SnapshotMeta } from "./messages.ts";

/** Read access to the durable log, hard state and latest snapshot metadata. */
export interface StableLog {
  /**
   * Hard state and the membership recorded in the newest snapshot. The core replays
   * committed ConfChange entries after the snapshot itself, as it hands them out.
   */
  initialState(): { hardState: HardState; conf: ConfState };
  /** Index of the first entry still stored (the snapshot's index + 1). */
  firstIndex(): number;
  /** Index of the last entry stored, or the snapshot's index when the log is empty. */
  lastIndex(): number;
  /**
   * Term of the entry at `index`; for the snapshot's own index, the snapshot's term.
   * `undefined` when `index` was compacted away or is beyond `lastIndex()`.
   */
  term(index: number): number | undefined;
  /**
   * Entries in [lo, hi), at least one if any exist, then stopping before the total
   * `data` size would exceed `maxBytes`. Callers only ask for firstIndex() ≤ lo < hi ≤ lastIndex()+1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Metadata of the newest snapshot (index 0, term 0 when there is none yet). */
  snapshotMeta(): SnapshotMeta;
}
