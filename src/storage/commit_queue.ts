/**
 * Group commit: the ordered queue between save() callers and the WAL writer.
 *
 * While one group's write + fdatasync is in flight, new saves queue up; the next
 * group takes all of them (up to {@link MAX_GROUP_SAVES}) into one write and one
 * fdatasync, and each caller's promise resolves once its save is durable. Exclusive
 * operations (snapshot install, compaction) run alone, in call order with saves.
 *
 * At most {@link MAX_PENDING_SAVES} items are queued; later callers wait, still in
 * call order, until a group drains; at most {@link MAX_WAITING_SAVES} wait so. Beyond
 * that a caller is refused at once with {@link SaveQueueFullError}: nothing of its
 * save was staged, so nothing unwritten is ever acknowledged (backpressure would only
 * move the unbounded list to the callers' promises). After a {@link FatalStorageError}
 * every queued and future item is rejected with it.
 *
 * @module
 */

import { FatalStorageError, SaveQueueFullError } from "./errors.ts";
import { assert, AssertionFailure } from "../assert.ts";

/** Items queued for the writer at most; later callers wait, in order, for room. */
export const MAX_PENDING_SAVES = 4096;
/** Items waiting for room in the queue at most; past it, callers are refused. */
export const MAX_WAITING_SAVES = 4096;
/** Saves folded into one write + fdatasync at most. */
export const MAX_GROUP_SAVES = 1024;

// The limits' relations, checked once at load: a group is cut from the queue.
assert(MAX_GROUP_SAVES <= MAX_PENDING_SAVES, "a group fits in the queue");
assert(MAX_WAITING_SAVES >= 1, "a full queue still lets callers wait");

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

type Item<T> = (Waiter & { save: T }) | (Waiter & { run: () => Promise<void> });

/** The ordered group-commit queue; `commitGroup` makes a group of saves durable. */
export class CommitQueue<T> {
  #queue: Item<T>[] = [];
  #waiting: Item<T>[] = [];
  #draining: Promise<void> | null = null;
  #failed: FatalStorageError | null = null;

  /** `commitGroup` must throw {@link FatalStorageError} (or anything) on failure. */
  constructor(readonly commitGroup: (saves: T[]) => Promise<void>) {}

  /** The error that stopped the queue, if any. */
  failure(): FatalStorageError | null {
    return this.#failed;
  }

  /** Items queued or waiting for room. */
  pending(): number {
    return this.#queue.length + this.#waiting.length;
  }

  /** Whether one more item would be refused ({@link MAX_WAITING_SAVES} reached). */
  full(): boolean {
    return this.#waiting.length >= MAX_WAITING_SAVES;
  }

  /**
   * Throws {@link SaveQueueFullError} when the queue is full. Callers that update
   * their own bookkeeping before queueing call it first, so a refusal changes nothing.
   */
  checkRoom(): void {
    if (this.full()) throw new SaveQueueFullError(this.pending());
  }

  /** Resolves once `save` is durable (as part of some group). */
  save(save: T): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#admit({ save, resolve, reject }));
  }

  /**
   * Runs `run` alone, after everything queued before it. An {@link AssertionFailure}
   * (a caller bug, raised before any I/O) rejects only this call; any other error
   * leaves memory and disk possibly out of step, so it stops the queue.
   */
  exclusive(run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#admit({ run, resolve, reject }));
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.#draining !== null) await this.#draining;
  }

  /** Stops the queue: rejects everything queued now and later with `error`. */
  fail(error: FatalStorageError): void {
    this.#failed ??= error;
    for (const item of [...this.#queue.splice(0), ...this.#waiting.splice(0)]) {
      item.reject(this.#failed);
    }
  }

  #admit(item: Item<T>): void {
    if (this.#failed !== null) return item.reject(this.#failed);
    if (this.full()) return item.reject(new SaveQueueFullError(this.pending()));
    if (this.#queue.length < MAX_PENDING_SAVES && this.#waiting.length === 0) {
      this.#queue.push(item);
    } else {
      this.#waiting.push(item);
    }
    assert(this.#queue.length <= MAX_PENDING_SAVES, "the queue stays within its limit");
    assert(this.#waiting.length <= MAX_WAITING_SAVES, "the waiting list stays within its limit");
    // A microtask before draining lets saves issued in the same turn join one group.
    this.#draining ??= Promise.resolve().then(() => this.#drain());
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as Item<T>;
      if ("run" in head) {
        this.#queue.shift();
        this.#refill();
        await this.#runExclusive(head);
        continue;
      }
      let n = 1;
      while (
        n < this.#queue.length && n < MAX_GROUP_SAVES && "save" in (this.#queue[n] as Item<T>)
      ) n++;
      const group = this.#queue.splice(0, n) as (Waiter & { save: T })[];
      assert(group.length <= MAX_GROUP_SAVES, "a group stays within its limit");
      this.#refill();
      await this.#commit(group);
    }
    this.#draining = null;
  }

  #refill(): void {
    const room = MAX_PENDING_SAVES - this.#queue.length;
    if (room > 0) this.#queue.push(...this.#waiting.splice(0, room));
    // Waiters move up only in order: none is left waiting while the queue has room.
    assert(this.#waiting.length === 0 || this.#queue.length === MAX_PENDING_SAVES, "refill");
  }

  async #commit(group: (Waiter & { save: T })[]): Promise<void> {
    try {
      await this.commitGroup(group.map((g) => g.save));
    } catch (e) {
      const err = e instanceof FatalStorageError ? e : new FatalStorageError("group commit", e);
      this.fail(err);
      for (const g of group) g.reject(err);
      return;
    }
    for (const g of group) g.resolve();
  }

  async #runExclusive(item: Waiter & { run: () => Promise<void> }): Promise<void> {
    try {
      await item.run();
      item.resolve();
    } catch (e) {
      if (e instanceof AssertionFailure) return item.reject(e);
      const err = e instanceof FatalStorageError ? e : new FatalStorageError("log rewrite", e);
      this.fail(err);
      item.reject(err);
    }
  }
}
