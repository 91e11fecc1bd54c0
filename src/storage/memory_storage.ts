/**
 * An in-memory {@link RaftStorage} twin for node-driver tests, with injectable faults:
 *
 * - `manualSync: true` holds every save() until {@link MemoryStorage.sync} (one "group
 *   commit"), so tests control exactly what is durable when.
 * - {@link MemoryStorage.crash} returns the storage a restarted process would find:
 *   everything synced survives; of the unsynced saves, the first `keep` survive
 *   (written but never acknowledged — legal), and with `tornLast` the next one
 *   survives torn: its entries record made it but its hard state record did not,
 *   exactly what a torn WAL write can leave behind.
 * - {@link MemoryStorage.failNextSync} makes the next sync fail with
 *   {@link FatalStorageError}, as a failed fdatasync would.
 *
 * It follows the file storage's semantics (overwrite on save, local snapshots become
 * current at once, received ones on applySnapshot, compaction keeps trailing entries).
 *
 * @module
 */

import { assert } from "../assert.ts";
import type { ConfState, Entry, HardState, SnapshotMeta } from "../raft/messages.ts";
import { MAX_PENDING_SAVES, MAX_WAITING_SAVES } from "./commit_queue.ts";
import { FatalStorageError, SaveQueueFullError } from "./errors.ts";
import type { RaftStorage, StorageStats } from "./raft_storage.ts";

/**
 * Unsynced saves a manual-sync twin holds at most: the file storage's commit queue
 * capacity, refused past it the same way ({@link SaveQueueFullError}).
 */
export const MAX_MEMORY_PENDING_SAVES = MAX_PENDING_SAVES + MAX_WAITING_SAVES;

/** Tunables of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /** Bootstrap membership (as bootstrapStorage would seed). */
  conf?: ConfState;
  /** Hold saves until sync() (default false: each save is durable at once). */
  manualSync?: boolean;
  /** Entries kept below a compaction index (default 10,000). */
  trailingEntries?: number;
}

/** Which unsynced writes survive a {@link MemoryStorage.crash}. */
export interface CrashOptions {
  /** The first `keep` unsynced saves reach "disk" (default 0). */
  keep?: number;
  /** The save after those survives with its entries but without its hard state. */
  tornLast?: boolean;
}

type Op =
  | { kind: "save"; hardState: HardState | null; entries: Entry[] }
  | { kind: "apply"; meta: SnapshotMeta }
  | { kind: "compact"; index: number };

interface Pending {
  op: Op & { kind: "save" };
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface StoredSnapshot {
  meta: SnapshotMeta;
  chunks: Uint8Array[];
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** The in-memory twin. Create with `new MemoryStorage(options)`. */
export class MemoryStorage implements RaftStorage {
  #ops: Op[] = [];
  #pending: Pending[] = [];
  #snapshots: StoredSnapshot[];
  #current: StoredSnapshot;
  #hardState: HardState = { term: 0, vote: null, commit: 0 };
  /** Live entries; `#entries[0]` has index `#first`. */
  #entries: Entry[] = [];
  #first = 1;
  #failNextSync = false;
  #failed: FatalStorageError | null = null;
  #crashed = false;
  #counters = { saves: 0, batches: 0, entries: 0, groupCommits: 0, bytesWritten: 0 };

  /** A fresh twin (bootstrapped with `options.conf` if given). */
  constructor(readonly options: MemoryStorageOptions = {}) {
    this.#current = { meta: { index: 0, term: 0, conf: options.conf ?? EMPTY_CONF }, chunks: [] };
    this.#snapshots = [this.#current];
  }

  // ---- StableLog -----------------------------------------------------------

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.#hardState }, conf: this.#current.meta.conf };
  }

  firstIndex(): number {
    const snapNext = this.#current.meta.index + 1;
    return this.#entries.length > 0 ? Math.min(this.#first, snapNext) : snapNext;
  }

  lastIndex(): number {
    return Math.max(this.#first + this.#entries.length - 1, this.#current.meta.index);
  }

  term(index: number): number | undefined {
    if (index === this.#current.meta.index) return this.#current.meta.term;
    return this.#entries[index - this.#first]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex(), "entries from below the first index");
    assert(hi <= this.lastIndex() + 1, "entries to beyond the last index");
    assert(lo <= hi, "an entry range is ordered");
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.#entries[i - this.#first];
      assert(e !== undefined, "an index in range is stored");
      if (out.length > 0 && bytes + e.data.length > maxBytes) break;
      out.push(e);
      bytes += e.data.length;
    }
    return out;
  }

  snapshotMeta(): SnapshotMeta {
    return this.#current.meta;
  }

  // ---- writes --------------------------------------------------------------

  async save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    this.#checkWritable();
    const op = { kind: "save" as const, hardState, entries: [...entries] };
    if (!this.options.manualSync) {
      this.#applyDurable(op);
      this.#counters.groupCommits++;
      return;
    }
    if (this.#pending.length >= MAX_MEMORY_PENDING_SAVES) {
      throw new SaveQueueFullError(this.#pending.length);
    }
    await new Promise<void>((resolve, reject) => this.#pending.push({ op, resolve, reject }));
  }

  /** Makes every held save durable and resolves them (one group commit). */
  sync(): void {
    this.#checkWritable();
    if (this.#failNextSync) {
      this.#failed = new FatalStorageError("fdatasync", new Error("injected fsync failure"));
      for (const p of this.#pending.splice(0)) p.reject(this.#failed);
      return;
    }
    const group = this.#pending.splice(0);
    if (group.length === 0) return;
    for (const p of group) this.#applyDurable(p.op);
    this.#counters.groupCommits++;
    for (const p of group) p.resolve();
  }

  /** Saves waiting for sync(). */
  pendingSaves(): number {
    return this.#pending.length;
  }

  /** The next sync() fails with a {@link FatalStorageError}; every later write too. */
  failNextSync(): void {
    this.#failNextSync = true;
  }

  /**
   * Simulates a process crash and restart: this instance dies (held saves reject)
   * and the returned one holds what a recovery would find.
   */
  crash(options: CrashOptions = {}): MemoryStorage {
    const keep = options.keep ?? 0;
    this.#crashed = true;
    const survivors: Op[] = this.#pending.slice(0, keep).map((p) => p.op);
    const torn = this.#pending[keep];
    if (options.tornLast && torn !== undefined) {
      survivors.push({ kind: "save", hardState: null, entries: torn.op.entries });
    }
    for (const p of this.#pending.splice(0)) p.reject(new Error("storage crashed"));
    const next = this.emptyTwin();
    next.#snapshots = [...this.#snapshots];
    for (const op of [...this.#ops, ...survivors]) next.#applyDurable(op);
    next.#counters = { saves: 0, batches: 0, entries: 0, groupCommits: 0, bytesWritten: 0 };
    next.#recoverSnapshot();
    return next;
  }

  /** A fresh, empty twin with these options (subclasses return their own kind). */
  protected emptyTwin(): MemoryStorage {
    return new MemoryStorage({ ...this.options });
  }

  /** As recovery does: the newest local snapshot that matches the log is current. */
  #recoverSnapshot(): void {
    const newer = this.#snapshots
      .filter((s) => s.meta.index > this.#current.meta.index)
      .sort((a, b) => b.meta.index - a.meta.index);
    const match = newer.find((s) => this.term(s.meta.index) === s.meta.term);
    if (match !== undefined) this.#current = match;
    // Received snapshots that were never applied are discarded, as on disk.
    this.#snapshots = this.#snapshots.filter((s) => s.meta.index <= this.#current.meta.index);
  }

  #checkWritable(): void {
    if (this.#crashed) throw new Error("storage crashed");
    if (this.#failed !== null) throw this.#failed;
  }

  #applyDurable(op: Op): void {
    this.#ops.push(op);
    this.#replay(op);
    if (op.kind === "save") {
      this.#counters.saves++;
      if (op.entries.length > 0) this.#counters.batches++;
      this.#counters.entries += op.entries.length;
      for (const e of op.entries) this.#counters.bytesWritten += e.data.length;
    }
  }

  /** Applies a durable op to the visible state (also used to rebuild after a crash). */
  #replay(op: Op): void {
    if (op.kind === "save") {
      const head = op.entries[0];
      if (head !== undefined) {
        assert(head.index <= this.lastIndex() + 1, "entries leave an index gap");
        assert(head.index > this.#current.meta.index, "entries overwrite the snapshot");
        const last = op.entries[op.entries.length - 1] as Entry;
        assert(last.index === head.index + op.entries.length - 1, "entries are contiguous");
        if (this.#entries.length === 0) this.#first = head.index;
        this.#entries.length = Math.max(0, head.index - this.#first);
        this.#entries.push(...op.entries);
      }
      if (op.hardState !== null) {
        // As on disk: the term never goes back, and a term has one vote.
        const prev = this.#hardState;
        assert(op.hardState.term >= prev.term, "a saved term never goes back");
        const sameTermVoted = op.hardState.term === prev.term && prev.vote !== null;
        assert(!sameTermVoted || op.hardState.vote === prev.vote, "a second vote in a term");
        this.#hardState = { ...op.hardState };
      }
    } else if (op.kind === "apply") {
      const snap = this.#findSnapshot(op.meta);
      this.#current = snap;
      this.#entries = [];
      this.#first = op.meta.index + 1;
      this.#hardState = {
        ...this.#hardState,
        commit: Math.max(this.#hardState.commit, op.meta.index),
      };
    } else {
      const cutoff = op.index - (this.options.trailingEntries ?? 10_000);
      const drop = Math.min(this.#entries.length, Math.max(0, cutoff - this.#first));
      this.#entries.splice(0, drop);
      this.#first += drop;
    }
  }

  #findSnapshot(meta: SnapshotMeta): StoredSnapshot {
    const snap = this.#snapshots.find((s) =>
      s.meta.index === meta.index && s.meta.term === meta.term
    );
    assert(snap !== undefined, `applySnapshot(${meta.index}) before writeSnapshot`);
    return snap;
  }

  async writeSnapshot(meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.#checkWritable();
    const stored: StoredSnapshot = { meta, chunks: [] };
    for await (const c of chunks) stored.chunks.push(Uint8Array.from(c));
    this.#snapshots.push(stored);
    if (meta.index > this.#current.meta.index && this.term(meta.index) === meta.term) {
      this.#current = stored;
    }
  }

  applySnapshot(meta: SnapshotMeta): Promise<void> {
    this.#checkWritable();
    this.#applyDurable({ kind: "apply", meta });
    return Promise.resolve();
  }

  compact(index: number): Promise<void> {
    this.#checkWritable();
    assert(index <= this.#current.meta.index, "compact beyond the snapshot");
    this.#applyDurable({ kind: "compact", index });
    return Promise.resolve();
  }

  openSnapshot(): { meta: SnapshotMeta; chunks: () => AsyncIterable<Uint8Array> } | null {
    const snap = this.#current;
    if (snap.meta.index === 0 && snap.chunks.length === 0 && !this.options.conf) return null;
    return {
      meta: snap.meta,
      chunks: async function* () {
        for (const c of snap.chunks) yield c;
      },
    };
  }

  stats(): StorageStats {
    return {
      fsync: "always",
      ...this.#counters,
      fsyncLatencyMs: [],
      pendingSaves: this.#pending.length,
      segments: 0,
      cacheBytes: 0,
      cacheBatches: 0,
      cacheHits: 0,
      cacheMisses: 0,
      firstIndex: this.firstIndex(),
      lastIndex: this.lastIndex(),
      snapshotIndex: this.#current.meta.index,
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
