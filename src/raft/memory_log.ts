/**
 * An in-memory {@link StableLog} with the mutation methods a host needs: used by the
 * simulator, the tests and the benchmark as "durable" storage.
 *
 * @module
 */

import { assert } from "./assert.ts";
import { cloneConf } from "./confchange.ts";
import type { ConfState, Entry, HardState, SnapshotMeta } from "./messages.ts";
import type { StableLog } from "./stable_log.ts";

/** Initial contents of a {@link MemoryStableLog}. */
export interface MemoryStableLogInit {
  /** Membership at the (possibly empty) initial snapshot. */
  conf?: ConfState;
  /** Initial snapshot metadata; defaults to index 0, term 0 with `conf`. */
  snapshot?: SnapshotMeta;
  /** Initial hard state. */
  hardState?: HardState;
  /** Entries following the snapshot, contiguous from snapshot.index + 1. */
  entries?: Entry[];
}

/** A StableLog kept in memory; mutations model what a host makes durable. */
export class MemoryStableLog implements StableLog {
  private hardState: HardState;
  private snapshot: SnapshotMeta;
  /** ents[i].index === snapshot.index + 1 + i. */
  private ents: Entry[] = [];

  /** Creates a log from `init` (an empty cluster with no members by default). */
  constructor(init: MemoryStableLogInit = {}) {
    const conf = init.snapshot?.conf ?? init.conf ?? { voters: [], learners: [] };
    this.snapshot = init.snapshot
      ? { index: init.snapshot.index, term: init.snapshot.term, conf: cloneConf(conf) }
      : { index: 0, term: 0, conf: cloneConf(conf) };
    this.hardState = init.hardState ? { ...init.hardState } : { term: 0, vote: null, commit: 0 };
    if (init.entries) this.append(init.entries);
  }

  /** See {@link StableLog.initialState}. */
  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.hardState }, conf: cloneConf(this.snapshot.conf) };
  }

  /** See {@link StableLog.firstIndex}. */
  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  /** See {@link StableLog.lastIndex}. */
  lastIndex(): number {
    return this.snapshot.index + this.ents.length;
  }

  /** See {@link StableLog.term}. */
  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index) return undefined;
    return this.ents[index - this.snapshot.index - 1]?.term;
  }

  /** See {@link StableLog.entries}. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex(), "entries from below the first index");
    assert(hi <= this.lastIndex() + 1, "entries to beyond the last index");
    assert(lo <= hi, "an entry range is ordered");
    const base = this.snapshot.index + 1;
    let end = lo;
    let bytes = 0;
    while (end < hi) {
      const e = this.ents[end - base] as Entry;
      bytes += e.data.byteLength;
      if (bytes > maxBytes && end > lo) break;
      end++;
    }
    return this.ents.slice(lo - base, end - base);
  }

  /** See {@link StableLog.snapshotMeta}. */
  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  /** Stores `entries`, overwriting any stored suffix from `entries[0].index`. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    assert(
      first >= this.firstIndex() && first <= this.lastIndex() + 1,
      `append at ${first} leaves a gap or rewrites the snapshot`,
    );
    this.ents.length = first - this.snapshot.index - 1;
    for (const e of entries) this.ents.push(e);
  }

  /** Stores the hard state. */
  setHardState(hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** Installs a received snapshot: the log restarts after `meta.index`. */
  applySnapshot(meta: SnapshotMeta): void {
    this.snapshot = { index: meta.index, term: meta.term, conf: cloneConf(meta.conf) };
    this.ents = [];
  }

  /** Drops entries ≤ `index` (a local snapshot at `index` whose membership is `conf`). */
  compact(index: number, conf: ConfState): void {
    if (index <= this.snapshot.index) return;
    assert(index <= this.lastIndex(), "compact beyond the last index");
    const term = this.term(index) as number;
    this.ents = this.ents.slice(index - this.snapshot.index);
    this.snapshot = { index, term, conf: cloneConf(conf) };
  }
}
