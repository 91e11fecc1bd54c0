/**
 * The apply step: committed entries go to the KV state machine (or, for membership
 * changes, to the member book), in order, and the writers waiting for them are
 * answered. A writer waits for the entry at (index, term): a different term at that
 * index means its entry was replaced and never committed.
 *
 * @module
 */

import { type Entry, EntryType } from "../raft/messages.ts";
import type { KvStore } from "../kv/store.ts";
import type { ApplyResult } from "../kv/types.ts";
import { RaftkvError } from "../errors.ts";
import type { DeadlineQueue } from "../http/deadlines.ts";
import { notApplied } from "./refusals.ts";

/** Most writes waiting for their entry to apply; beyond it writes get 429. */
export const MAX_PENDING_WRITES = 100_000;

interface WriteWaiter {
  term: number;
  resolve: (result: ApplyResult) => void;
  reject: (error: Error) => void;
}

/** What the apply step needs from the rest of the node. */
export interface ApplierDeps {
  /** The current state machine (replaced when a snapshot is installed). */
  kv(): KvStore;
  /** Applies a membership change entry (member book, peers). */
  applyConfChange(entry: Entry): void;
  /** Gives up on writes after the node's write timeout. */
  writeDeadlines: DeadlineQueue;
}

/** Applies entries and answers their writers. */
export class Applier {
  readonly #deps: ApplierDeps;
  readonly #writes = new Map<number, WriteWaiter>();
  #applied: number;
  #appliedTerm: number;

  /** Starts at the snapshot the node restored from. */
  constructor(deps: ApplierDeps, applied: number, appliedTerm: number) {
    this.#deps = deps;
    this.#applied = applied;
    this.#appliedTerm = appliedTerm;
  }

  /** The last applied index. */
  get applied(): number {
    return this.#applied;
  }

  /** The term of the last applied entry. */
  get appliedTerm(): number {
    return this.#appliedTerm;
  }

  /** Number of writes waiting. */
  get pendingWrites(): number {
    return this.#writes.size;
  }

  /** A snapshot replaced the state: applying continues after its index. */
  jumpTo(index: number, term: number): void {
    this.#applied = index;
    this.#appliedTerm = term;
  }

  /** Applies `entries` in order and answers their writers. */
  apply(entries: readonly Entry[]): void {
    for (const entry of entries) {
      let result: ApplyResult = { ok: true, value: null };
      if (entry.type === EntryType.ConfChange) {
        this.#deps.applyConfChange(entry);
      } else {
        // Bad entries are refused inside apply (as results); a throw is a broken
        // invariant, and going on would let this replica's state drift: stop instead.
        result = this.#deps.kv().apply(entry.index, entry.data);
      }
      this.#applied = entry.index;
      this.#appliedTerm = entry.term;
      const waiter = this.#writes.get(entry.index);
      if (waiter) {
        this.#writes.delete(entry.index);
        if (waiter.term === entry.term) waiter.resolve(result);
        else waiter.reject(notApplied("leadership changed before the write committed"));
      }
    }
  }

  /** Resolves with the apply result once the entry at (index, term) is applied here. */
  awaitApplied(index: number, term: number, signal: AbortSignal): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      const onAbort = () => this.#giveUp(index, waiter);
      const settle = () => {
        deadline.cancel();
        signal.removeEventListener("abort", onAbort);
      };
      const waiter: WriteWaiter = {
        term,
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      };
      // An older waiter at this index belongs to an entry this leader's log replaced,
      // which therefore never committed.
      this.#writes.get(index)?.reject(notApplied("leadership changed before the write committed"));
      this.#writes.set(index, waiter);
      const deadline = this.#deps.writeDeadlines.add(onAbort);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #giveUp(index: number, waiter: WriteWaiter): void {
    if (this.#writes.get(index) !== waiter) return;
    this.#writes.delete(index);
    waiter.reject(
      new RaftkvError(
        "outcome_unknown",
        `the change was proposed at index ${index} but not applied before its deadline; it may or may not take effect`,
      ),
    );
  }

  /** Fails every waiting write (the node shuts down: their fate is unknown). */
  failAll(): void {
    for (const waiter of this.#writes.values()) {
      waiter.reject(
        new RaftkvError("outcome_unknown", "the node shut down before the write applied"),
      );
    }
    this.#writes.clear();
  }
}
