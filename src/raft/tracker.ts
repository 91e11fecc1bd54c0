/**
 * The leader's view of one follower's replication: probe (one append at a time, to find
 * the match point), replicate (pipelined appends bounded by an in-flight window) and
 * snapshot (waiting for a snapshot to be shipped).
 *
 * @module
 */

import { assert } from "./assert.ts";

/** Default bound on appends in flight to one follower. */
export const MAX_INFLIGHT_APPENDS = 256;

/** Replication state of a follower, as seen by the leader. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** A bounded FIFO of the last indexes of in-flight appends. */
export class Inflights {
  private readonly ring: Float64Array;
  private start = 0;
  /** Number of appends in flight. */
  count = 0;

  /** Creates a window holding at most `capacity` appends. */
  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity), "inflight capacity is an integer");
    assert(capacity >= 1, "inflight capacity must be positive");
    this.ring = new Float64Array(capacity);
  }

  /** Whether no more appends may be sent. */
  full(): boolean {
    return this.count === this.capacity;
  }

  /** Records an append whose last entry is `index` (indexes only increase). */
  add(index: number): void {
    assert(!this.full(), "inflight window overflow");
    assert(index >= 1, "an in-flight append ends at index 1 or later");
    if (this.count > 0) {
      const newest = this.ring[(this.start + this.count - 1) % this.capacity] as number;
      assert(index >= newest, "in-flight indexes never go back");
    }
    this.ring[(this.start + this.count) % this.capacity] = index;
    this.count++;
  }

  /** Frees every append whose last index is ≤ `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && (this.ring[this.start] as number) <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    assert(this.count >= 0, "in-flight count is non-negative");
  }

  /** Frees the oldest append (used when acks may have been lost). */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  /** Empties the window. */
  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** The leader's replication state for one peer. */
export class FollowerProgress {
  /** Highest index known replicated on the peer. */
  match = 0;
  /** Next index to send. */
  next: number;
  /** Replication state. */
  state: ProgressState = "probe";
  /** Heard from since the last CheckQuorum round. */
  recentActive = true;
  /** Whether the peer is a learner (never counted in quorums). */
  isLearner: boolean;
  /** In probe state: an append was sent and no answer has come back yet. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being shipped. */
  pendingSnapshot = 0;
  /** The commit index last sent to the peer. */
  sentCommit = 0;
  /** Highest heartbeat round the peer has echoed. */
  ackedRound = 0;
  /** The latest heartbeat round sent to the peer, and our last sent index then. */
  hbSentRound = 0;
  hbSentIndex = 0;
  /** Tick at which `match` last advanced (to detect a stalled pipeline). */
  progressTick = 0;
  /** Appends in flight (replicate state). */
  readonly inflights: Inflights;

  /** Creates progress for a peer whose next index to try is `next`. */
  constructor(next: number, isLearner: boolean, maxInflight: number) {
    assert(next >= 1, "the next index to send is at least 1");
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflight);
  }

  /** The progress invariant: the next index to send lies beyond the match point. */
  private assertNextBeyondMatch(): void {
    assert(this.next > this.match, "progress next > match");
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** Back to probing from just after the match point (or after a shipped snapshot). */
  becomeProbe(): void {
    const snap = this.state === "snapshot" ? this.pendingSnapshot : 0;
    this.resetState("probe");
    this.next = Math.max(this.match + 1, snap + 1);
    this.assertNextBeyondMatch();
  }

  /** Start pipelining from just after the match point. */
  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
    this.assertNextBeyondMatch();
    assert(this.inflights.count === 0, "replication starts with an empty window");
  }

  /** Wait for the snapshot at `index` to be shipped. */
  becomeSnapshot(index: number): void {
    assert(index >= 1, "a snapshot to ship has an index");
    this.resetState("snapshot");
    this.pendingSnapshot = index;
    this.assertNextBeyondMatch();
  }

  /** Records an ack of `index`; returns whether it advanced the match. */
  maybeUpdate(index: number, tick: number): boolean {
    assert(index >= 0, "an acknowledged index is non-negative");
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.progressTick = tick;
      updated = true;
    }
    // Any successful answer ends a probe round trip, even one that taught us nothing.
    this.probeSent = false;
    if (this.next < index + 1) this.next = index + 1;
    assert(this.match >= index, "match covers the acknowledged index");
    this.assertNextBeyondMatch();
    return updated;
  }

  /**
   * Handles a rejection of the append at `rejected`, using the follower's hint to skip
   * ahead; returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    assert(rejected >= 0, "a rejected index is non-negative");
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.assertNextBeyondMatch();
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    this.assertNextBeyondMatch();
    assert(this.next <= rejected + 1, "a rejection never moves next forward");
    return true;
  }

  /** Whether appends to this peer must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
