/**
 * The safety properties the simulator asserts after every step. The checker keeps a
 * global, incrementally built picture of the cluster's history (who led which term, the
 * identity of every (index, term) entry any log ever held, what was committed, applied
 * and acknowledged) so each observation costs O(entries observed), not O(log size).
 *
 * Every method throws {@link InvariantViolation} on the first contradiction.
 *
 * @module
 */

import type { Entry, NodeId } from "../../src/raft/messages.ts";
import { chainDigest, entryFingerprint } from "./fingerprint.ts";

/** The names of the properties checked, as printed in failure reports. */
export type InvariantName =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "durability-of-acked-writes"
  | "read-after-acked-write"
  | "liveness"
  | "core-consistency"
  | "host-contract"
  | "linearizability"
  | "replica-divergence"
  | "removed-member-served"
  | "wiped-voter-voted"
  | "lost-log-ignored"
  | "promoted-unreached-learner"
  | "ttl-expiry"
  | "txn-answer"
  | "lease-keys"
  | "lease-early-expiry"
  | "lease-expiry"
  | "lease-divergence"
  | "old-term-commit"
  | "commit-without-durable-quorum"
  | "unexpected-fatal";

/** Thrown on the first broken property; carries what the report prints. */
export class InvariantViolation extends Error {
  /** Which property broke. */
  readonly invariant: InvariantName;

  /** Builds the violation; `detail` should say which nodes and indices disagree. */
  constructor(invariant: InvariantName, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = "InvariantViolation";
    this.invariant = invariant;
  }
}

/** What one (index, term) slot of any log looked like when first seen. */
interface SlotRecord {
  term: number;
  fp: number;
  prevTerm: number;
  firstSeenBy: NodeId;
}

/** One entry's identity at a committed or applied index. */
interface Committed {
  term: number;
  fp: number;
  by: NodeId;
  /**
   * An upper bound on the term in which the entry became committed: the lowest current
   * term of any node that reported it committed. Leader completeness binds only leaders
   * of later terms (a deposed leader of an earlier term may still lack it).
   */
  byTerm: number;
}

/** A live leader's log, as its host can see it, for checks on later commits. */
export interface LeaderView {
  term: number;
  firstIndex(): number;
  termAt(index: number): number | undefined;
}

/** An acknowledged client write. */
interface Acked {
  index: number;
  term: number;
  fp: number;
}

/** Incremental checker of Raft's safety properties across one simulated run. */
export class InvariantChecker {
  #leaderOfTerm = new Map<number, NodeId>();
  #votes = new Map<string, NodeId>();
  /** slots[index] lists every distinct term seen at that index (rarely more than two). */
  #slots: (SlotRecord[] | undefined)[] = [];
  #committed: (Committed | undefined)[] = [];
  #maxCommitted = 0;
  /** digests[index] is the applied-state digest after applying index. */
  #digests: (number | undefined)[] = [];
  #acked: Acked[] = [];
  #maxAckedIndex = 0;
  #readFloor = new Map<number, number>();
  #completenessChecked = new Set<string>();
  #leaderViews = new Map<NodeId, LeaderView>();
  #readsServed = 0;

  /** Highest index acknowledged to a client so far. */
  get maxAckedIndex(): number {
    return this.#maxAckedIndex;
  }

  /** Number of acknowledged writes. */
  get ackedCount(): number {
    return this.#acked.length;
  }

  /** Terms that had a leader. */
  get leaderTerms(): number {
    return this.#leaderOfTerm.size;
  }

  /** Reads answered (and checked). */
  get readsServed(): number {
    return this.#readsServed;
  }

  /** Highest index known committed. */
  get maxCommittedIndex(): number {
    return this.#maxCommitted;
  }

  /** Election safety: at most one leader per term, ever. */
  observeLeader(node: NodeId, term: number): void {
    const known = this.#leaderOfTerm.get(term);
    if (known === undefined) {
      this.#leaderOfTerm.set(term, node);
    } else if (known !== node) {
      throw new InvariantViolation(
        "election-safety",
        `term ${term} has two leaders: ${known} and ${node}`,
      );
    }
  }

  /**
   * One vote per voter per term, across restarts: `voter` granted its (real) vote in
   * `term` to `candidate`. A second grant to someone else means a vote was not durable
   * before it was sent, the root of two leaders in one term.
   */
  observeVoteGranted(voter: NodeId, term: number, candidate: NodeId): void {
    const key = `${voter}/${term}`;
    const known = this.#votes.get(key);
    if (known === undefined) {
      this.#votes.set(key, candidate);
    } else if (known !== candidate) {
      throw new InvariantViolation(
        "election-safety",
        `${voter} voted twice in term ${term}: for ${known} and for ${candidate}`,
      );
    }
  }

  /** True once `observeLeader(node, term)` was recorded. */
  wasLeader(node: NodeId, term: number): boolean {
    return this.#leaderOfTerm.get(term) === node;
  }

  /**
   * Log matching: `entries` (consecutive) now sit in `node`'s log right after an entry of
   * term `prevTerm`. An (index, term) slot must always hold the same payload and follow
   * the same predecessor term; by induction, logs agreeing on (index, term) then agree
   * on every earlier entry.
   */
  observeLogAppend(node: NodeId, entries: readonly Entry[], prevTerm: number): void {
    let prev = prevTerm;
    let expectIndex = entries[0]?.index ?? 0;
    for (const e of entries) {
      if (e.index !== expectIndex) {
        throw new InvariantViolation(
          "log-matching",
          `${node} appended non-consecutive entries: ${expectIndex - 1} then ${e.index}`,
        );
      }
      if (e.term < prev) {
        throw new InvariantViolation(
          "log-matching",
          `${node} log term decreases at ${e.index}: term ${e.term} after ${prev}`,
        );
      }
      this.#checkSlot(node, e.index, e.term, entryFingerprint(e), prev);
      prev = e.term;
      expectIndex++;
    }
  }

  #checkSlot(node: NodeId, index: number, term: number, fp: number, prevTerm: number): void {
    let list = this.#slots[index];
    if (list === undefined) {
      list = [];
      this.#slots[index] = list;
    }
    for (const rec of list) {
      if (rec.term !== term) continue;
      if (rec.fp !== fp || rec.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          "log-matching",
          `entry ${index}@${term} in ${node} (prevTerm ${prevTerm}) differs from the one ` +
            `${rec.firstSeenBy} held (prevTerm ${rec.prevTerm}, payload ` +
            `${rec.fp === fp ? "same" : "different"})`,
        );
      }
      return;
    }
    list.push({ term, fp, prevTerm, firstSeenBy: node });
  }

  /**
   * Committed entries must never disagree, whoever reports them. `nodeTerm` is the
   * reporter's current term (the entry was committed in that term or earlier).
   */
  observeCommitted(node: NodeId, e: Entry, nodeTerm: number): void {
    const fp = entryFingerprint(e);
    const known = this.#committed[e.index];
    if (known === undefined) {
      this.#committed[e.index] = { term: e.term, fp, by: node, byTerm: nodeTerm };
      if (e.index > this.#maxCommitted) this.#maxCommitted = e.index;
      this.#checkLiveLeadersHold(e.index, e.term, nodeTerm, node);
      return;
    }
    if (nodeTerm < known.byTerm && known.term === e.term && known.fp === fp) {
      known.byTerm = nodeTerm;
      this.#checkLiveLeadersHold(e.index, e.term, nodeTerm, node);
    }
    if (known.term !== e.term || known.fp !== fp) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${node} commits ${e.index}@${e.term} but ${known.by} committed ${e.index}@${known.term}` +
          (known.term === e.term ? " with a different payload" : ""),
      );
    }
  }

  /** A snapshot at (index, term) claims that entry is committed. */
  observeSnapshot(node: NodeId, index: number, term: number): void {
    if (index === 0) return;
    const known = this.#committed[index];
    if (known !== undefined && known.term !== term) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${node} holds a snapshot at ${index}@${term} but ${known.by} committed ${index}@${known.term}`,
      );
    }
  }

  /**
   * State machine safety: `node` applied entry (index, term, fp) and reached `digest`.
   * Every node must reach the same digest at the same index (the digest chains every
   * earlier entry, so this also covers nodes that skipped ahead via snapshots).
   */
  observeApplied(node: NodeId, index: number, term: number, fp: number, digest: number): void {
    const known = this.#committed[index];
    if (known === undefined || known.term !== term || known.fp !== fp) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${node} applied ${index}@${term} which does not match the committed entry ` +
          (known === undefined ? "(none recorded)" : `${index}@${known.term} from ${known.by}`),
      );
    }
    this.observeDigest(node, index, digest);
  }

  /** The applied-state digest at `index` must be the same on every node. */
  observeDigest(node: NodeId, index: number, digest: number): void {
    const known = this.#digests[index];
    if (known === undefined) {
      this.#digests[index] = digest;
    } else if (known !== digest) {
      throw new InvariantViolation(
        "state-machine-safety",
        `${node}'s state after applying ${index} differs from another node's at ${index}`,
      );
    }
  }

  /**
   * Leader completeness: the leader of `term` must hold every entry known committed in
   * an earlier term. `termAt` reads the leader's whole log (durable + unstable);
   * `firstIndex` is its first uncompacted index. Checked once per (leader, term).
   */
  checkLeaderCompleteness(
    node: NodeId,
    term: number,
    firstIndex: number,
    termAt: (index: number) => number | undefined,
  ): void {
    const key = `${node}/${term}`;
    if (this.#completenessChecked.has(key)) return;
    this.#completenessChecked.add(key);
    for (let i = Math.max(1, firstIndex); i <= this.#maxCommitted; i++) {
      const c = this.#committed[i];
      if (c === undefined || c.byTerm >= term) continue;
      const have = termAt(i);
      if (have !== c.term) {
        throw new InvariantViolation(
          "leader-completeness",
          `${node} leads term ${term} but holds ${
            have === undefined ? "nothing" : `term ${have}`
          } ` +
            `at ${i}, where ${i}@${c.term} was committed (by ${c.by})`,
        );
      }
    }
  }

  /**
   * Registers (or, with null, forgets) `node` as the live leader of `view.term`. Every
   * entry first seen committed later, in an earlier term, must already be in its log:
   * leader completeness for commits that become known only after the election.
   */
  setLeaderView(node: NodeId, view: LeaderView | null): void {
    if (view === null) this.#leaderViews.delete(node);
    else this.#leaderViews.set(node, view);
  }

  #checkLiveLeadersHold(index: number, term: number, byTerm: number, by: NodeId): void {
    for (const [leader, view] of this.#leaderViews) {
      if (view.term <= byTerm || index < view.firstIndex()) continue;
      const have = view.termAt(index);
      if (have !== term) {
        throw new InvariantViolation(
          "leader-completeness",
          `${leader} leads term ${view.term} but holds ` +
            `${have === undefined ? "nothing" : `term ${have}`} at ${index}, where ` +
            `${index}@${term} is now committed (by ${by})`,
        );
      }
    }
  }

  /** A client write (index, term, fp) was acknowledged: it must be the committed entry. */
  observeAck(index: number, term: number, fp: number): void {
    const known = this.#committed[index];
    if (known === undefined || known.term !== term || known.fp !== fp) {
      throw new InvariantViolation(
        "durability-of-acked-writes",
        `write acked at ${index}@${term} is not the committed entry there`,
      );
    }
    this.#acked.push({ index, term, fp });
    if (index > this.#maxAckedIndex) this.#maxAckedIndex = index;
  }

  /** A read with `context` was issued now: remember the acked floor it must respect. */
  observeReadIssued(context: number): void {
    this.#readFloor.set(context, this.#maxAckedIndex);
  }

  /** A read state for `context` arrived with `index`; forgets the context. */
  observeReadState(node: NodeId, context: number, index: number): void {
    const floor = this.#readFloor.get(context);
    if (floor === undefined) return; // a duplicate answer, or one for a forgotten read
    this.#readFloor.delete(context);
    this.#readsServed++;
    if (index < floor) {
      throw new InvariantViolation(
        "read-after-acked-write",
        `${node} answered read ${context} with index ${index}, below write ${floor} ` +
          `acknowledged before the read was issued`,
      );
    }
  }

  /** Forgets reads that will never be answered (their node crashed). */
  forgetRead(context: number): void {
    this.#readFloor.delete(context);
  }

  /**
   * End-of-run check: every live member applied at least up to the last acked write, and
   * its digest there matches, so every acked write survived at its exact index.
   */
  checkAckedApplied(node: NodeId, appliedIndex: number, digestAt: number): void {
    if (appliedIndex < this.#maxAckedIndex) {
      throw new InvariantViolation(
        "durability-of-acked-writes",
        `${node} applied only up to ${appliedIndex}, below acked write ${this.#maxAckedIndex}`,
      );
    }
    this.observeDigest(node, appliedIndex, digestAt);
  }

  /** The digest every node must reach at `index`, if any node applied it. */
  digestAt(index: number): number | undefined {
    return this.#digests[index];
  }
}

/** Re-exported so hosts compute digests exactly as the checker expects. */
export { chainDigest, entryFingerprint };
