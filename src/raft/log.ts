/**
 * The core's view of its log: durable entries read through {@link StableLog}, plus an
 * unstable tail (and possibly a received snapshot) not yet confirmed durable by the
 * host. Also tracks the commit and apply positions.
 *
 * @module
 */

import { assert } from "./assert.ts";
import { type Entry, EntryType, type SnapshotMeta } from "./messages.ts";
import type { StableLog } from "./stable_log.ts";

/** In-memory log view over a StableLog. */
export class RaftLog {
  /** The host's durable storage (read-only to the core). */
  readonly storage: StableLog;
  /** Entries not yet confirmed durable; unstable[i].index === offset + i. */
  private unstable: Entry[] = [];
  /** Index of unstable[0]; everything below it is durable in storage. */
  private offset: number;
  /** Entries with index < inProgress were already handed out in a Ready. */
  private inProgress: number;
  /** A snapshot received from the leader and not yet confirmed durable. */
  private unstableSnap: SnapshotMeta | null = null;
  private snapInProgress = false;
  /** Highest index known committed. */
  committed: number;
  /** Highest index handed out to the host for applying. */
  applying: number;
  /** Highest index the host confirmed applied (via advance). */
  applied: number;

  /** Opens the view; `applied` is clamped to [snapshot index, commit]. */
  constructor(storage: StableLog, committed: number, applied: number) {
    assert(storage.firstIndex() >= 1, "storage's first index is at least 1");
    assert(storage.firstIndex() <= storage.lastIndex() + 1, "storage's indexes are ordered");
    this.storage = storage;
    this.offset = storage.lastIndex() + 1;
    this.inProgress = this.offset;
    const snapIndex = storage.firstIndex() - 1;
    // The host applies only committed entries, so what it applied (its snapshot, which
    // storage may keep entries below) is committed even when the durable commit index
    // lags: a commit-only hard state may never have been synced (contract step 2).
    const knownCommitted = Math.max(committed, applied, storage.snapshotMeta().index);
    this.committed = Math.max(snapIndex, Math.min(knownCommitted, storage.lastIndex()));
    this.applied = Math.max(snapIndex, Math.min(applied, this.committed));
    this.applying = this.applied;
    assert(this.committed <= this.lastIndex(), "opened with commit beyond the last index");
    assert(this.applied <= this.committed, "opened with applied beyond commit");
  }

  /** Index of the first entry still available (after any snapshot). */
  firstIndex(): number {
    return this.unstableSnap ? this.unstableSnap.index + 1 : this.storage.firstIndex();
  }

  /** Index of the last entry. */
  lastIndex(): number {
    return this.offset + this.unstable.length - 1;
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Highest index known durable locally. */
  persistedIndex(): number {
    return this.offset - 1;
  }

  /** Term at `index`, or undefined when compacted or beyond the end. */
  term(index: number): number | undefined {
    assert(index >= 0, "term of a negative index");
    if (index >= this.offset) return this.unstable[index - this.offset]?.term;
    if (this.unstableSnap) {
      return index === this.unstableSnap.index ? this.unstableSnap.term : undefined;
    }
    return this.storage.term(index);
  }

  /** Whether the entry at `index` has term `term`. */
  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Whether a log ending at (lastIndex, lastTerm) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    assert(lastIndex >= 0, "a candidate's last index is non-negative");
    assert(lastTerm >= 0, "a candidate's last term is non-negative");
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term` (used for fast backtracking),
   * stopping at the first compacted index.
   */
  findConflictByTerm(index: number, term: number): number {
    assert(index >= 0, "backtracking starts at a non-negative index");
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
    }
    return 0;
  }

  /**
   * Appends leader entries following (prevIndex, prevTerm) and advances commit; returns
   * the last index covered by the message, or -1 when prevIndex does not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: Entry[]): number {
    assert(prevIndex >= 0, "an append follows a non-negative index");
    assert(commit >= 0, "an append carries a non-negative commit");
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + entries.length;
    // Contiguity is checked at its ends (O(1)); validate.ts checked every entry.
    assert(
      entries.length === 0 || entries[0]?.index === prevIndex + 1,
      "append starts at prev + 1",
    );
    assert(
      entries.length === 0 || entries[entries.length - 1]?.index === lastNew,
      "append is contiguous",
    );
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (this.term(e.index) !== e.term) {
        assert(e.index > this.committed, `conflict at committed index ${e.index}`);
        this.append(i === 0 ? entries : entries.slice(i));
        break;
      }
    }
    this.commitTo(Math.min(commit, lastNew));
    assert(this.lastIndex() >= lastNew, "an accepted append is in the log");
    assert(this.committed <= this.lastIndex(), "commit stays within the log");
    return lastNew;
  }

  /** Appends to the unstable tail, truncating any conflicting suffix first. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = (entries[0] as Entry).index;
    const last = entries[entries.length - 1] as Entry;
    assert(after > this.committed, "append below commit");
    assert(after <= this.lastIndex() + 1, "append leaves a gap");
    assert(last.index === after + entries.length - 1, "appended entries are contiguous");
    assert(last.term >= (entries[0] as Entry).term, "appended terms do not decrease");
    if (after === this.offset + this.unstable.length) {
      // One exact-size copy beats growing the array entry by entry.
      if (this.unstable.length === 0) this.unstable = entries.slice();
      else for (const e of entries) this.unstable.push(e);
      this.assertUnstable(last);
      return;
    }
    if (after <= this.offset) {
      // Replaces part of the durable log: those entries are no longer valid.
      this.offset = after;
      this.unstable = entries.slice();
    } else {
      this.unstable.length = after - this.offset;
      for (const e of entries) this.unstable.push(e);
    }
    this.inProgress = Math.min(this.inProgress, after);
    this.assertUnstable(last);
  }

  /** Postcondition of an append: the unstable tail starts at offset and ends at `last`. */
  private assertUnstable(last: Entry): void {
    assert(this.unstable[0]?.index === this.offset, "the unstable tail starts at offset");
    assert(this.lastIndex() === last.index, "the log ends at the last appended entry");
  }

  /**
   * Entries from `lo` (to the end), stopping before `maxBytes` of data (at least one),
   * or null when `lo` was compacted away.
   */
  entriesFrom(lo: number, maxBytes: number): Entry[] | null {
    assert(lo >= 1, "entries start at index 1 or later");
    assert(maxBytes >= 0, "a byte budget is non-negative");
    if (lo < this.firstIndex()) return null;
    const last = this.lastIndex();
    if (lo > last) return [];
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stored = this.storage.entries(lo, this.offset, maxBytes);
      for (const e of stored) {
        bytes += e.data.byteLength;
        out.push(e);
      }
      if (out.length < this.offset - lo) return out;
    }
    const u = this.unstable;
    const start = Math.max(lo, this.offset) - this.offset;
    let end = start;
    while (end < u.length) {
      bytes += (u[end] as Entry).data.byteLength;
      if (bytes > maxBytes && (out.length > 0 || end > start)) break;
      end++;
    }
    const result = out.length === 0 ? u.slice(start, end) : out;
    if (out.length > 0) { for (let i = start; i < end; i++) out.push(u[i] as Entry); }
    assert(result.length > 0, "entriesFrom returns at least one entry when lo ≤ last");
    assert(result[0]?.index === lo, "entriesFrom starts at lo");
    return result;
  }

  /** Raises commit (never lowers it). */
  commitTo(index: number): void {
    assert(index >= 0, "commit index is non-negative");
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), "commit beyond last index");
    this.committed = index;
  }

  /** Whether unstable entries or a snapshot await a Ready. */
  hasUnstable(): boolean {
    return this.inProgress <= this.lastIndex() ||
      (this.unstableSnap !== null && !this.snapInProgress);
  }

  /** Hands out the unstable entries not yet handed out. */
  takeUnstableEntries(): Entry[] {
    const start = this.inProgress - this.offset;
    if (start >= this.unstable.length) return [];
    const first = this.inProgress;
    this.inProgress = this.lastIndex() + 1;
    const out = start === 0 ? this.unstable.slice() : this.unstable.slice(start);
    assert(out[0]?.index === first, "handed-out entries start where the last hand-out ended");
    return out;
  }

  /** Hands out the unstable snapshot, if any and not yet handed out. */
  takeUnstableSnapshot(): SnapshotMeta | null {
    if (this.unstableSnap === null || this.snapInProgress) return null;
    this.snapInProgress = true;
    assert(this.unstableSnap.index === this.offset - 1, "the unstable snapshot ends below offset");
    return this.unstableSnap;
  }

  /** The host made entries through (index, term) durable. */
  stableTo(index: number, term: number): void {
    if (index < this.offset || this.term(index) !== term) return;
    this.unstable = this.unstable.slice(index + 1 - this.offset);
    this.offset = index + 1;
    if (this.inProgress < this.offset) this.inProgress = this.offset;
    assert(this.unstable.length === 0 || this.unstable[0]?.index === this.offset, "tail at offset");
  }

  /** The host made the snapshot at `index` durable. */
  stableSnapTo(index: number): void {
    assert(index >= 1, "a durable snapshot has an index");
    if (this.unstableSnap !== null && this.unstableSnap.index === index) {
      this.unstableSnap = null;
      this.snapInProgress = false;
    }
  }

  /** Restarts the log after a snapshot received from the leader. */
  restore(snap: SnapshotMeta): void {
    assert(snap.index > this.committed, "restore of an already committed snapshot");
    assert(snap.term >= 1, "a snapshot has a term");
    this.unstableSnap = snap;
    this.snapInProgress = false;
    this.unstable = [];
    this.offset = snap.index + 1;
    this.inProgress = this.offset;
    this.committed = snap.index;
    this.applying = snap.index;
    assert(this.lastIndex() === snap.index, "a restored log ends at its snapshot");
    assert(this.firstIndex() === snap.index + 1, "a restored log starts after its snapshot");
  }

  /** Whether committed, durable entries await being handed out. */
  hasNextCommitted(): boolean {
    return this.applying < Math.min(this.committed, this.persistedIndex());
  }

  /**
   * Hands out committed, durable entries not yet handed out (at most ~maxBytes); with
   * `beforeConfChange`, only those before the first membership change among them.
   */
  takeCommitted(maxBytes: number, beforeConfChange = false): Entry[] {
    const hi = Math.min(this.committed, this.persistedIndex());
    if (this.applying >= hi) return [];
    let ents = this.storage.entries(this.applying + 1, hi + 1, maxBytes);
    if (beforeConfChange) {
      const conf = ents.findIndex((e) => e.type === EntryType.ConfChange);
      if (conf >= 0) ents = ents.slice(0, conf);
    }
    const first = ents[0];
    const last = ents[ents.length - 1];
    if (first !== undefined && last !== undefined) {
      assert(first.index === this.applying + 1, "entries are handed out in order");
      assert(last.index === first.index + ents.length - 1, "committed entries are contiguous");
      assert(last.index <= hi, "only committed, durable entries are handed out");
      this.applying = last.index;
    }
    return ents;
  }

  /** The host applied through `index`. */
  appliedTo(index: number): void {
    assert(index <= this.committed, "applied beyond commit");
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
    assert(this.applied <= this.applying, "applied never passes what was handed out");
  }
}
