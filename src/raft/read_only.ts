/**
 * The leader's queue of pending ReadIndex requests. A request waits until the leader
 * has committed an entry of its term (its read index is then the commit index), then
 * rides the next heartbeat round; once a quorum has echoed that round (or a later
 * one), every request of the round is confirmed at once.
 *
 * @module
 */

import { assert } from "./assert.ts";
import type { NodeId } from "./messages.ts";

/** Bound on reads waiting at the leader; beyond it requests are dropped (hosts time out). */
export const MAX_READ_INDEX_REQUESTS = 4096;

/** Round marker: the read waits for the leader to commit an entry of its term. */
const WAITING_COMMIT = -1;
/** Round marker: the read has an index and waits for the next heartbeat round. */
const UNASSIGNED = 0;

/** One pending read request. */
export interface PendingRead {
  /** The asker's context (unique per asking node). */
  context: number;
  /** The node that asked (the leader itself for local reads). */
  from: NodeId;
  /** Commit index when the read became eligible (-1 until then). */
  index: number;
  /** Heartbeat round confirming this read (or one of the markers above). */
  round: number;
}

/**
 * FIFO of pending reads. Order invariant: confirmed-round reads (ascending rounds),
 * then unassigned reads, then reads waiting for a commit in the term.
 */
export class ReadOnlyQueue {
  private queue: PendingRead[] = [];
  private head = 0;

  /** Reads still pending. */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Queues a read; `index` < 0 means "not yet eligible". False when the queue is full. */
  add(context: number, from: NodeId, index: number): boolean {
    assert(Number.isSafeInteger(index), "a read index is an integer");
    assert(context > 0, "a read context is positive");
    if (this.length >= MAX_READ_INDEX_REQUESTS) return false;
    this.queue.push({ context, from, index, round: index < 0 ? WAITING_COMMIT : UNASSIGNED });
    assert(this.length <= MAX_READ_INDEX_REQUESTS, "pending reads stay within their limit");
    return true;
  }

  /** The leader committed an entry of its term: waiting reads get index `commit`. */
  markCommitted(commit: number): void {
    assert(commit >= 1, "a read waits for a real commit index");
    for (let i = this.head; i < this.queue.length; i++) {
      const r = this.queue[i] as PendingRead;
      if (r.round === WAITING_COMMIT) {
        r.round = UNASSIGNED;
        r.index = commit;
      }
    }
  }

  /** Whether some eligible read waits for a heartbeat round. */
  hasUnassigned(): boolean {
    for (let i = this.queue.length - 1; i >= this.head; i--) {
      const r = this.queue[i] as PendingRead;
      if (r.round === UNASSIGNED) return true;
      if (r.round > 0) return false;
    }
    return false;
  }

  /** Puts every eligible, unassigned read on heartbeat round `round`. */
  assign(round: number): void {
    assert(round > UNASSIGNED, "a heartbeat round is positive (0 and -1 are markers)");
    for (let i = this.head; i < this.queue.length; i++) {
      const r = this.queue[i] as PendingRead;
      if (r.round === UNASSIGNED) r.round = round;
    }
  }

  /** Removes and returns the reads of rounds ≤ `confirmedRound`. */
  release(confirmedRound: number): PendingRead[] {
    assert(confirmedRound >= 0, "a confirmed round is non-negative");
    const out: PendingRead[] = [];
    while (this.head < this.queue.length) {
      const r = this.queue[this.head] as PendingRead;
      if (r.round <= 0 || r.round > confirmedRound) break;
      assert(r.index >= 0, "a released read has an index");
      out.push(r);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Drops every pending read (leadership lost: the hosts time out). */
  clear(): void {
    this.queue = [];
    this.head = 0;
  }
}
