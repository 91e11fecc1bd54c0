/**
 * The simulator's disk: the in-memory storage twin with every save held until the
 * simulator's event queue says its fsync completed (`sync()`), and a crash that keeps
 * only what was synced (plus, with torn writes, a prefix of what was not). Each save
 * is shown to an observer first, so the checker sees every entry a log ever held.
 *
 * @module
 */

import type { Entry, HardState } from "../../src/raft/messages.ts";
import { MemoryStorage, type MemoryStorageOptions } from "../../src/storage/memory_storage.ts";

/** What the simulator learns from a host's disk. */
export interface DiskObserver {
  /** `entries` are about to be saved after an entry of term `prevTerm`. */
  saving(entries: readonly Entry[], prevTerm: number, hardState: HardState | null): void;
  /** A save is waiting for its fsync: schedule `sync()`. */
  fsyncRequested(): void;
}

/** A held-until-synced twin that reports every save. */
export class SimStorage extends MemoryStorage {
  observer: DiskObserver | null = null;
  /** Entries handed to save() but not synced yet, for the host's view of its log. */
  #unsynced: Entry[] = [];

  /** A twin that holds saves until {@link sync}. */
  constructor(options: Omit<MemoryStorageOptions, "manualSync"> = {}) {
    super({ ...options, manualSync: true });
  }

  override save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    const first = entries[0];
    if (first !== undefined) {
      const prevTerm = first.index === 1 ? 0 : this.visibleTerm(first.index - 1) ?? -1;
      this.observer?.saving(entries, prevTerm, hardState);
      this.#unsynced = [...this.#unsynced.filter((e) => e.index < first.index), ...entries];
    }
    const saved = super.save(hardState, entries);
    this.observer?.fsyncRequested();
    return saved;
  }

  override sync(): void {
    super.sync();
    this.#unsynced = [];
  }

  /** The term at `index` in this host's log: durable, or saved and awaiting its fsync. */
  visibleTerm(index: number): number | undefined {
    const first = this.#unsynced[0];
    if (first !== undefined && index >= first.index) {
      return this.#unsynced[index - first.index]?.term;
    }
    return this.term(index);
  }

  /** The last index of this host's log as {@link visibleTerm} sees it. */
  visibleLastIndex(): number {
    const last = this.#unsynced[this.#unsynced.length - 1];
    return last?.index ?? this.lastIndex();
  }

  protected override emptyTwin(): SimStorage {
    return new SimStorage(this.options);
  }

  /**
   * The disk a restarted process finds. Synced saves survive; of the unsynced ones, the
   * first `keep` survive, and with `tornLast` the next one keeps its entries only.
   */
  crashInto(keep: number, tornLast: boolean): SimStorage {
    return this.crash({ keep, tornLast }) as SimStorage;
  }
}
