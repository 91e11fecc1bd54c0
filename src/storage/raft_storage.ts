/**
 * Durable Raft storage on local files: a segmented, CRC-checked write-ahead log with
 * group commit, snapshot files, crash recovery, and a byte-bounded LRU for old
 * entries. Each module documents its own on-disk format.
 *
 * Failure contract for the node driver:
 * - {@link StorageCorruptionError} from {@link openStorage}: refuse to start and show
 *   the message (it names the file, offset, index and the recovery procedure).
 * - {@link FatalStorageError} from any write: end the process at once (a failed fsync
 *   cannot be retried safely); recovery on restart keeps what was acknowledged.
 * - {@link SaveQueueFullError} from a write: refused before anything was staged, more
 *   than MAX_PENDING_SAVES + MAX_WAITING_SAVES writes being queued; nothing of it
 *   is durable. A bug for the Ready loop (one save in flight); 429 if it reaches HTTP.
 * - `AssertionFailure` (src/assert.ts) from anything: a bug; stop the node.
 *
 * @module
 */

import { encode } from "cbor-x";
import type { ConfState, Entry, HardState, SnapshotMeta } from "../raft/messages.ts";
import type { StableLog } from "../raft/stable_log.ts";
import { encodeBatch, termRunsOf } from "./batch_codec.ts";
import { CommitQueue } from "./commit_queue.ts";
import { EntryReader } from "./entry_reader.ts";
import { EntryTail } from "./entry_tail.ts";
import { FatalStorageError } from "./errors.ts";
import { assert } from "../assert.ts";
import type { LogIndex } from "./log_index.ts";
import { recover } from "./recovery.ts";
import { frameRecord, RecordType } from "./record.ts";
import { listSegments, segmentPath, syncDir } from "./segment_files.ts";
import {
  listSnapshots,
  pruneSnapshots,
  readSnapshotData,
  readSnapshotFile,
  type SnapshotFile,
  writeSnapshotFile,
} from "./snapshot_store.ts";
import { concat, WalWriter } from "./wal_writer.ts";
import { runtime } from "../runtime/current.ts";
import { lockDataDir } from "./dir_lock.ts";

export { FatalStorageError, SaveQueueFullError, StorageCorruptionError } from "./errors.ts";
export { MAX_GROUP_SAVES, MAX_PENDING_SAVES, MAX_WAITING_SAVES } from "./commit_queue.ts";

/** Default segment size. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Default byte bound of the LRU cache of old entries. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** Default number of entries kept below a compaction point. */
export const DEFAULT_TRAILING_ENTRIES = 10_000;
/** Default number of snapshot files kept. */
export const DEFAULT_KEEP_SNAPSHOTS = 2;
/** Default entry bound of the in-memory tail. */
export const DEFAULT_TAIL_ENTRIES = 10_000;
/** Default byte bound of the in-memory tail. */
export const DEFAULT_TAIL_BYTES = 16 * 1024 * 1024;
/** fsync latency samples kept for metrics (newest last). */
export const MAX_FSYNC_SAMPLES = 1024;

/** Tunables of {@link openStorage}; every field has a default. */
export interface StorageOptions {
  /** Segment size that triggers a new segment (default 64 MiB). */
  segmentBytes?: number;
  /** "always" (default) fdatasyncs every group; "never" is for tests and benchmarks. */
  fsync?: "always" | "never";
  /** Byte bound of the LRU cache of old entries (default 64 MiB). */
  cacheBytes?: number;
  /** Entries kept below a compaction index (default 10,000). */
  trailingEntries?: number;
  /** Snapshot files kept (default 2). */
  keepSnapshots?: number;
  /** Newest entries kept in memory, by count (default 10,000). */
  tailEntries?: number;
  /** Newest entries kept in memory, by data bytes (default 16 MiB). */
  tailBytes?: number;
}

/** Counters for metrics and benchmarks. */
export interface StorageStats {
  /** The fsync policy; "never" means acknowledged writes may be lost: warn loudly. */
  fsync: "always" | "never";
  /** save() calls completed. */
  saves: number;
  /** Entry batches written (saves with entries). */
  batches: number;
  /** Entries written. */
  entries: number;
  /** Group commits (each one write + one fdatasync per segment touched). */
  groupCommits: number;
  /** Bytes appended to the WAL. */
  bytesWritten: number;
  /** Recent group-commit write+fdatasync latencies in ms, newest last. */
  fsyncLatencyMs: number[];
  /** Saves waiting for the next group commit. */
  pendingSaves: number;
  /** Segment files on disk. */
  segments: number;
  /** Bytes held by the LRU cache of old entries. */
  cacheBytes: number;
  /** Batch records held by the LRU cache. */
  cacheBatches: number;
  /** Cold reads served from the LRU cache. */
  cacheHits: number;
  /** Cold reads that went to disk. */
  cacheMisses: number;
  /** As StableLog.firstIndex(). */
  firstIndex: number;
  /** As StableLog.lastIndex(). */
  lastIndex: number;
  /** Index of the current snapshot (0 when none). */
  snapshotIndex: number;
}

/** Durable storage behind the core's {@link StableLog}. */
export interface RaftStorage extends StableLog {
  /** Durably append entries (overwriting any stored suffix from entries[0].index) and the hard state, group-committed. Entries are visible to StableLog reads once it resolves. */
  save(hardState: HardState | null, entries: Entry[]): Promise<void>;
  /** Durably store a snapshot's bytes (local or received). Does not change the log. */
  writeSnapshot(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** The log now restarts after meta.index (a received snapshot was installed); durable when it resolves. Requires writeSnapshot(meta) first. */
  applySnapshot(meta: SnapshotMeta): Promise<void>;
  /** After a local snapshot at index: drop whole segments below index - trailingEntries. */
  compact(index: number): Promise<void>;
  /** The newest snapshot's metadata and a fresh stream of its bytes, or null. */
  openSnapshot(): { meta: SnapshotMeta; chunks: () => AsyncIterable<Uint8Array> } | null;
  /** Counters for metrics. */
  stats(): StorageStats;
  /** Waits for queued writes, then releases files. */
  close(): Promise<void>;
}

interface Settings {
  segmentBytes: number;
  fsync: "always" | "never";
  cacheBytes: number;
  trailingEntries: number;
  keepSnapshots: number;
  tailEntries: number;
  tailBytes: number;
}

function settings(o: StorageOptions = {}): Settings {
  const s: Settings = {
    segmentBytes: o.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    fsync: o.fsync ?? "always",
    cacheBytes: o.cacheBytes ?? DEFAULT_CACHE_BYTES,
    trailingEntries: o.trailingEntries ?? DEFAULT_TRAILING_ENTRIES,
    keepSnapshots: o.keepSnapshots ?? DEFAULT_KEEP_SNAPSHOTS,
    tailEntries: o.tailEntries ?? DEFAULT_TAIL_ENTRIES,
    tailBytes: o.tailBytes ?? DEFAULT_TAIL_BYTES,
  };
  if (s.segmentBytes < 1 || s.cacheBytes < 1 || s.trailingEntries < 0) {
    throw new RangeError("storage options must be positive");
  }
  if (s.keepSnapshots < 1 || s.tailEntries < 1 || s.tailBytes < 1) {
    throw new RangeError("storage options must be positive");
  }
  return s;
}

/** Opens (creating if missing) and recovers the storage in `dir`. */
export async function openStorage(dir: string, options?: StorageOptions): Promise<RaftStorage> {
  const s = settings(options);
  await runtime.fs.mkdir(dir, { recursive: true });
  // Before recovery, which may truncate a torn tail another live node is writing.
  const unlock = await lockDataDir(dir);
  try {
    const r = await recover(dir);
    const writer = new WalWriter(dir, s.fsync === "always", s.segmentBytes, r.active, r.segments);
    const storage = new FileStorage(
      dir,
      s,
      writer,
      r.index,
      r.hardState,
      r.snapshot,
      r.snapshotMeta,
    );
    storage.unlockDir = unlock;
    storage.loadTail();
    return storage;
  } catch (e) {
    unlock();
    throw e;
  }
}

/**
 * Seeds a fresh data dir with the bootstrap membership (snapshotMeta index 0, term 0,
 * conf), used when a node is started with --initial-cluster and no data.
 */
export async function bootstrapStorage(
  dir: string,
  conf: ConfState,
  options?: StorageOptions,
): Promise<void> {
  const s = settings(options);
  await runtime.fs.mkdir(dir, { recursive: true });
  if ((await listSegments(dir)).length > 0 || (await listSnapshots(dir)).length > 0) {
    throw new Error(`cannot bootstrap ${dir}: it already holds Raft data`);
  }
  const empty = (async function* () {})();
  await writeSnapshotFile(dir, { index: 0, term: 0, conf }, empty, s.fsync === "always");
}

/** One save() waiting for its group commit. */
interface PendingSave {
  hardState: HardState | null;
  entries: Entry[];
}

function hardStateRecord(hs: HardState): Uint8Array {
  return frameRecord(
    RecordType.HardState,
    encode({ term: hs.term, vote: hs.vote, commit: hs.commit }),
  );
}

class FileStorage implements RaftStorage {
  readonly #reader: EntryReader;
  readonly #tail: EntryTail;
  readonly #queue = new CommitQueue<PendingSave>((saves) => this.#commitGroup(saves));
  #closed = false;
  /** Gives back this open's share of the data directory's lock (set by openStorage). */
  unlockDir: () => void = () => {};
  /** Index and hard state as staged by the queue (ahead of the durable ones). */
  #stagedLast: number;
  #stagedHardState: HardState;
  /** The newest hard state passed to save() (ahead of the staged one). */
  #lastSavedHardState: HardState;
  #counters = { saves: 0, batches: 0, entries: 0, groupCommits: 0, bytesWritten: 0 };
  #fsyncSamples: number[] = [];

  constructor(
    readonly dir: string,
    readonly settings: Settings,
    readonly writer: WalWriter,
    readonly index: LogIndex,
    public hardState: HardState,
    public snapshot: SnapshotFile | null,
    public snapshotInfo: SnapshotMeta,
  ) {
    this.#reader = new EntryReader(dir, settings.cacheBytes);
    this.#tail = new EntryTail(settings.tailEntries, settings.tailBytes);
    this.#stagedLast = this.lastIndex();
    this.#stagedHardState = hardState;
    this.#lastSavedHardState = hardState;
  }

  /** Fills the in-memory tail with the newest entries from disk. */
  loadTail(): void {
    const last = this.index.last();
    let lo = Math.max(this.index.first(), last - this.settings.tailEntries + 1);
    const entries: Entry[] = [];
    while (lo <= last) {
      const chunk = this.#coldEntries(lo, last + 1);
      entries.push(...chunk);
      lo += chunk.length;
    }
    this.#tail.append(entries);
  }

  // ---- StableLog -------------------------------------------------------------

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.hardState }, conf: this.snapshotInfo.conf };
  }

  firstIndex(): number {
    const first = this.index.size() > 0 ? this.index.first() : this.snapshotInfo.index + 1;
    return Math.min(first, this.snapshotInfo.index + 1);
  }

  lastIndex(): number {
    return Math.max(this.index.last(), this.snapshotInfo.index);
  }

  term(index: number): number | undefined {
    if (index === this.snapshotInfo.index) return this.snapshotInfo.term;
    return this.index.term(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex(), "entries from below the first index");
    assert(hi <= this.lastIndex() + 1, "entries to beyond the last index");
    assert(lo <= hi, "an entry range is ordered");
    const out: Entry[] = [];
    let bytes = 0;
    let i = lo;
    while (i < hi) {
      const e = this.#tail.get(i);
      const batch = e !== undefined ? [e] : this.#coldEntries(i, hi);
      for (const entry of batch) {
        if (out.length > 0 && bytes + entry.data.length > maxBytes) return out;
        out.push(entry);
        bytes += entry.data.length;
        i++;
      }
    }
    assert(out.length > 0 || lo === hi, "a non-empty range reads at least one entry");
    assert(out.length === 0 || out[0]?.index === lo, "entries start at lo");
    assert(out.length === 0 || out[out.length - 1]?.index === lo + out.length - 1, "contiguous");
    return out;
  }

  /** Entries from `lo` out of the one batch record holding it, within [lo, hi). */
  #coldEntries(lo: number, hi: number): Entry[] {
    const loc = this.index.locate(lo);
    assert(loc !== undefined, "an index in range is stored");
    const all = this.#reader.read(loc);
    assert(all[0]?.index === loc.firstIndex, "a batch reads back at the index it was saved at");
    // A batch may hold more than its live entries (a later save overwrote its suffix).
    assert(all.length >= loc.count, "a batch reads back with its live entries");
    const end = Math.min(hi, loc.firstIndex + loc.count);
    return all.slice(lo - loc.firstIndex, end - loc.firstIndex);
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshotInfo;
  }

  // ---- writes ----------------------------------------------------------------

  async save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    this.#checkWritable();
    if (hardState !== null) this.#assertHardStateFollows(hardState);
    const first = entries[0];
    if (first !== undefined) {
      assert(first.index > this.snapshotInfo.index, "entries overwrite the snapshot");
      assert(first.index <= this.#stagedLast + 1, "entries leave an index gap");
      entries.forEach((e, k) => assert(e.index === first.index + k, "entries not contiguous"));
    }
    if (first === undefined && hardState === null) return;
    this.#queue.checkRoom();
    if (first !== undefined) this.#stagedLast = first.index + entries.length - 1;
    if (hardState !== null) this.#lastSavedHardState = hardState;
    await this.#queue.save({ hardState, entries });
  }

  /** Preconditions on a hard state: term and commit never go back; one vote per term. */
  #assertHardStateFollows(hs: HardState): void {
    const prev = this.#lastSavedHardState;
    assert(hs.term >= prev.term, "a saved term never goes back");
    assert(hs.commit >= 0, "a saved commit is non-negative");
    const sameTermVoted = hs.term === prev.term && prev.vote !== null;
    assert(!sameTermVoted || hs.vote === prev.vote, "one vote per term");
  }

  #checkWritable(): void {
    const failed = this.#queue.failure();
    if (failed !== null) throw failed;
    if (this.#closed) throw new Error("storage is closed");
  }

  /** Writes a group with one write + fdatasync; throws FatalStorageError on failure. */
  async #commitGroup(group: PendingSave[]): Promise<void> {
    assert(group.length > 0, "a group commit has saves");
    const started = performance.now();
    // A staging failure (e.g. a record over the size limit) also leaves the writer
    // half-staged, so it is as fatal as a failed write (the queue stops).
    const staged = group.map((g) => this.#stage(g));
    this.#counters.bytesWritten += await this.writer.commit();
    this.#sample(performance.now() - started);
    this.#counters.groupCommits++;
    group.forEach((g, k) => this.#publish(g, staged[k] ?? null));
  }

  /** Stages one save's records: entries first, then hard state (the Ready order). */
  #stage(g: PendingSave): { segment: number; offset: number; length: number } | null {
    // A new segment starts with the current hard state, so compaction can delete
    // older segments without losing it.
    const preamble = () =>
      this.#stagedHardState.term === 0 ? [] : [hardStateRecord(this.#stagedHardState)];
    let loc = null;
    const first = g.entries[0];
    const next = this.lastIndex() + 1;
    if (first !== undefined) {
      const record = frameRecord(RecordType.Entries, encodeBatch(g.entries));
      loc = this.writer.stage(record, first.index, next, preamble);
    }
    if (g.hardState !== null) {
      this.#stagedHardState = { ...g.hardState };
      this.writer.stage(hardStateRecord(g.hardState), null, next, () => []);
    }
    return loc;
  }

  /** Makes a durable save visible to StableLog reads. */
  #publish(g: PendingSave, loc: { segment: number; offset: number; length: number } | null) {
    this.#counters.saves++;
    const first = g.entries[0];
    if (first !== undefined && loc !== null) {
      this.index.append(first.index, termRunsOf(g.entries), loc.segment, loc.offset, loc.length);
      // The saved batch reads back from the index as it was given (O(1), ends only).
      const last = g.entries[g.entries.length - 1] as Entry;
      assert(this.index.last() === last.index, "a published batch ends the log");
      assert(this.index.term(last.index) === last.term, "a published batch keeps its terms");
      assert(this.index.term(first.index) === first.term, "a published batch starts in place");
      this.#tail.append(g.entries);
      this.#counters.batches++;
      this.#counters.entries += g.entries.length;
    }
    if (g.hardState !== null) this.hardState = { ...g.hardState };
  }

  #sample(ms: number): void {
    this.#fsyncSamples.push(ms);
    if (this.#fsyncSamples.length > MAX_FSYNC_SAMPLES) this.#fsyncSamples.shift();
  }

  // ---- snapshots -----------------------------------------------------------

  async writeSnapshot(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.#checkWritable();
    let path: string;
    try {
      path = await writeSnapshotFile(this.dir, meta, chunks, this.settings.fsync === "always");
    } catch (e) {
      if (e instanceof FatalStorageError) this.#queue.fail(e);
      throw e;
    }
    const file = await readSnapshotFile(path);
    assert(file !== null, "a snapshot just written must read back");
    assert(file.meta.index === meta.index, "a snapshot reads back at its index");
    assert(file.meta.term === meta.term, "a snapshot reads back with its term");
    // A local snapshot matches the log and becomes current at once; a received one
    // only once applySnapshot() installs it.
    if (meta.index > this.snapshotInfo.index && this.index.term(meta.index) === meta.term) {
      this.snapshot = file;
      this.snapshotInfo = file.meta;
    }
    await pruneSnapshots(this.dir, this.settings.keepSnapshots, this.snapshot?.path ?? null);
  }

  applySnapshot(meta: SnapshotMeta): Promise<void> {
    assert(meta.index > this.snapshotInfo.index, "an installed snapshot is newer than ours");
    assert(meta.term >= 1, "an installed snapshot has a term");
    this.#checkWritable();
    this.#queue.checkRoom();
    const done = this.#queue.exclusive(() => this.#installSnapshot(meta));
    // Saves issued from now on continue the log after the snapshot.
    this.#stagedLast = meta.index;
    return done;
  }

  async #installSnapshot(meta: SnapshotMeta): Promise<void> {
    const file = (await listSnapshots(this.dir)).find((s) =>
      s.meta.index === meta.index && s.meta.term === meta.term
    );
    assert(file !== undefined, `applySnapshot(${meta.index}) before writeSnapshot`);
    const hs = {
      ...this.#stagedHardState,
      commit: Math.max(this.#stagedHardState.commit, meta.index),
    };
    const records = concat([
      frameRecord(RecordType.SnapshotMarker, encode({ index: meta.index, term: meta.term })),
      hardStateRecord(hs),
    ]);
    // 1. The marker becomes durable at the end of the active log: from here on,
    //    recovery restarts the log after meta.index whatever else survives.
    this.writer.stage(records, null, meta.index + 1, () => []);
    this.#counters.bytesWritten += await this.writer.commit();
    const active = this.writer.activeSegment();
    assert(active !== null, "the marker write left no active segment");
    // 2. Older segments are now dead: delete them oldest first, each durably, so the
    //    survivors always form a suffix of the log.
    for (const seg of this.writer.segments.filter((s) => s !== active)) await this.#delete(seg);
    // 3. Replace the active segment by one holding only the marker, named
    //    meta.index + 1 so later segment names keep increasing with the log.
    const path = segmentPath(this.dir, active);
    const temp = path + ".tmp";
    await runtime.fs.writeFile(temp, records);
    await this.#durable(temp);
    await runtime.fs.rename(temp, path);
    await this.#syncDir();
    this.#reader.dropSegment(active);
    const target = meta.index + 1;
    if (target !== active) {
      await runtime.fs.rename(path, segmentPath(this.dir, target));
      await this.#syncDir();
    }
    this.writer.segments.splice(0, this.writer.segments.length, target);
    this.writer.adopt(target, records.length);
    this.index.reset(target);
    this.#tail.clear();
    this.hardState = hs;
    this.#stagedHardState = hs;
    this.#stagedLast = meta.index;
    this.snapshot = file;
    this.snapshotInfo = file.meta;
    assert(this.lastIndex() === meta.index, "an installed snapshot ends the log");
    assert(this.firstIndex() === meta.index + 1, "an installed snapshot starts the log");
    await pruneSnapshots(this.dir, this.settings.keepSnapshots, file.path);
  }

  async #durable(path: string): Promise<void> {
    if (this.settings.fsync !== "always") return;
    const f = await runtime.fs.open(path, { read: true, write: true });
    try {
      await f.syncData();
    } finally {
      f.close();
    }
  }

  async #syncDir(): Promise<void> {
    if (this.settings.fsync === "always") await syncDir(this.dir);
  }

  async #delete(segment: number): Promise<void> {
    this.#reader.dropSegment(segment);
    await runtime.fs.remove(segmentPath(this.dir, segment));
    await this.#syncDir();
    const k = this.writer.segments.indexOf(segment);
    if (k >= 0) this.writer.segments.splice(k, 1);
  }

  compact(index: number): Promise<void> {
    assert(index >= 0, "a compaction index is non-negative");
    assert(index <= this.snapshotInfo.index, "compact beyond the snapshot");
    this.#checkWritable();
    this.#queue.checkRoom();
    return this.#queue.exclusive(async () => {
      const lastBefore = this.lastIndex();
      const cutoff = index - this.settings.trailingEntries;
      const lastBySegment = this.index.lastIndexBySegment();
      const active = this.writer.activeSegment();
      let keepFrom: number | null = null;
      for (const seg of [...this.writer.segments]) {
        const last = lastBySegment.get(seg);
        if (seg === active || (last !== undefined && last >= cutoff)) {
          keepFrom = seg;
          break;
        }
        await this.#delete(seg);
      }
      if (keepFrom !== null) this.index.dropSegmentsBelow(keepFrom);
      this.#tail.dropBefore(this.index.first());
      // Compaction only drops what the snapshot covers: the log's end stays, and what
      // is left still adjoins the snapshot.
      assert(this.lastIndex() === lastBefore, "compaction never drops the log's end");
      const left = this.index;
      assert(
        left.size() === 0 || left.first() <= this.snapshotInfo.index + 1,
        "log adjoins snapshot",
      );
    });
  }

  openSnapshot(): { meta: SnapshotMeta; chunks: () => AsyncIterable<Uint8Array> } | null {
    const snap = this.snapshot;
    if (snap === null) return null;
    return { meta: snap.meta, chunks: () => readSnapshotData(snap) };
  }

  stats(): StorageStats {
    const cache = this.#reader.cacheUsage();
    return {
      fsync: this.settings.fsync,
      ...this.#counters,
      fsyncLatencyMs: [...this.#fsyncSamples],
      pendingSaves: this.#queue.pending(),
      segments: this.writer.segments.length,
      cacheBytes: cache.bytes,
      cacheBatches: cache.batches,
      cacheHits: this.#reader.hits,
      cacheMisses: this.#reader.misses,
      firstIndex: this.firstIndex(),
      lastIndex: this.lastIndex(),
      snapshotIndex: this.snapshotInfo.index,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.idle();
    this.writer.close();
    this.#reader.close();
    this.unlockDir();
  }
}
