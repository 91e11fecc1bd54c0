/**
 * The Raft state machine: a pure, synchronous core driven by `tick()`, `step()` and
 * proposals, whose side effects are handed to the host as a {@link Ready} and confirmed
 * with `advance()`. Step functions are split per role (follower, candidate, leader).
 *
 * @module
 */

import { assert } from "./assert.ts";
import { applyConfChange, cloneConf, confChangeError } from "./confchange.ts";
import { decodeConfChange, encodeConfChange } from "./conf_change_codec.ts";
import { RaftLog } from "./log.ts";
import {
  type AppendMessage,
  type AppendResponseMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type Message,
  MessageType,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type SnapshotMessage,
  type SoftState,
  type VoteRequestMessage,
  type VoteResponseMessage,
} from "./messages.ts";
import { Prng } from "./prng.ts";
import { quorumValue, voteResult } from "./quorum.ts";
import { MAX_READ_INDEX_REQUESTS, type PendingRead, ReadOnlyQueue } from "./read_only.ts";
import type { StableLog } from "./stable_log.ts";
import { FollowerProgress, MAX_INFLIGHT_APPENDS } from "./tracker.ts";
import { isValidMessage } from "./validate.ts";

export { MAX_INFLIGHT_APPENDS } from "./tracker.ts";

/** Default bound on entry data per Append message. */
export const MAX_APPEND_BYTES = 1 << 20;
/** Default bound on proposed-but-uncommitted entry data; proposals beyond are refused. */
export const MAX_UNCOMMITTED_BYTES = 64 << 20;
/** Bound on committed entry data handed out in one Ready. */
export const MAX_COMMITTED_BYTES_PER_READY = 64 << 20;
/** Bound on each outgoing message queue between two `ready()` calls; excess is dropped. */
export const MAX_PENDING_MESSAGES = 1 << 16;
/** Bound on read states queued for the host between two `ready()` calls. */
export const MAX_PENDING_READ_STATES = 1 << 16;
/** Heartbeat rounds remembered (send tick per round) for leases and read confirmation. */
export const MAX_HEARTBEAT_ROUNDS = 256;
/** Safety margin (for clock drift between nodes) subtracted from the election timeout. */
export const LEASE_MARGIN_TICKS = 2;
const DEFAULT_ELECTION_TICKS = 10;
const DEFAULT_HEARTBEAT_TICKS = 1;
const EMPTY = new Uint8Array(0);

/** Configuration of one core. */
export interface RaftConfig {
  /** This node's id. */
  id: NodeId;
  /** Durable storage, read-only to the core. */
  log: StableLog;
  /** Seed of the PRNG that randomizes election timeouts. */
  seed: number;
  /** Base election timeout; the actual one is random in [electionTicks, 2*electionTicks). */
  electionTicks?: number;
  /** Ticks between leader heartbeats. */
  heartbeatTicks?: number;
  /** Run a pre-vote round before bumping the term (default true). */
  preVote?: boolean;
  /** Leaders step down without a quorum; voters honour leader leases (default true). */
  checkQuorum?: boolean;
  /** Index the host has already applied (default: the snapshot index). */
  applied?: number;
  /** Entry data per Append (default {@link MAX_APPEND_BYTES}). */
  maxAppendBytes?: number;
  /** Appends in flight per follower (default {@link MAX_INFLIGHT_APPENDS}). */
  maxInflightAppends?: number;
  /** Uncommitted proposal data (default {@link MAX_UNCOMMITTED_BYTES}). */
  maxUncommittedBytes?: number;
}

/**
 * Why the core refused a proposal. A closed union: hosts switch over it exhaustively, so
 * a new reason fails to compile until every host says what it means to a client.
 */
export type RefusalReason =
  /** This node is not the leader (`leader` names the one it knows, if any). */
  | "not_leader"
  /** Too much proposed data is not committed yet. */
  | "uncommitted_limit"
  /** Leadership is being handed to another voter. */
  | "transfer_in_progress"
  /** A membership change is proposed but not applied yet: one at a time. */
  | "conf_change_pending"
  /** A new leader takes membership changes only once an entry of its term committed. */
  | "not_yet_committed_in_term"
  /** The change does not fit the current configuration (e.g. promoting a voter). */
  | "invalid_conf_change";

/** A refused proposal: why, and the leader this node knows of (itself when it leads). */
export interface Refusal {
  ok: false;
  reason: RefusalReason;
  leader: NodeId | null;
}

/** Outcome of a proposal. */
export type ProposeResult = { ok: true; index: number; term: number } | Refusal;

/** A follower's replication progress, as reported by {@link Raft.status}. */
export interface Progress {
  /** Highest index known replicated on the peer (durable there). */
  match: number;
  /** Next index the leader will send. */
  next: number;
  /** probe: one append at a time; replicate: pipelined; snapshot: waiting for one. */
  state: "probe" | "replicate" | "snapshot";
  /** Heard from during the current CheckQuorum period. */
  recentActive: boolean;
  /** A learner never counts toward quorums. */
  isLearner: boolean;
  /** Appends in flight (bounded by maxInflightAppends). */
  inflight: number;
}

/** The core's scalar state: cheap enough to read on every request (no copies). */
export interface BasicStatus {
  /** This node. */
  id: NodeId;
  /** Current term. */
  term: number;
  /** Current role ("learner" for a follower that is a learner in its conf). */
  role: Role;
  /** The known leader of this term, or null. */
  leader: NodeId | null;
  /** Highest index known committed. */
  commit: number;
  /** Highest index the host confirmed applied (through advance()). */
  applied: number;
  /** Index of the last entry in the log (durable or not). */
  lastIndex: number;
  /**
   * Set when the leader credits this node with entries its log no longer holds: a
   * heartbeat's commit is at most what this node acknowledged, so a commit beyond its
   * last index means its disk was wiped or truncated. The host must stop such a node
   * (etcd's raft panics here): it would otherwise serve an old state and vote with a
   * forgotten past. Null while the log is intact.
   */
  lostLog: LostLog | null;
  /** Messages dropped so far because an outgoing queue was full (observability). */
  droppedMessages: number;
}

/** What {@link BasicStatus.lostLog} reports: this log's end and what the leader credits. */
export interface LostLog {
  /** This node's last index when the heartbeat arrived. */
  lastIndex: number;
  /** The commit index the leader sent, which this node must have acknowledged. */
  acknowledged: number;
}

/** A snapshot of the core's state for observability. */
export interface RaftStatus extends BasicStatus {
  /** Membership as applied so far (a copy). */
  conf: ConfState;
  /** Leader only (including itself), else empty. */
  progress: Map<NodeId, Progress>;
  /** Leader only: a lease read may be served now without a heartbeat round. */
  leaseValid: boolean;
}

type State = "follower" | "precandidate" | "candidate" | "leader";

/** The Raft consensus state machine. */
export class Raft {
  /** This node's id. */
  readonly id: NodeId;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxAppendBytes: number;
  private readonly maxInflight: number;
  private readonly maxUncommittedBytes: number;
  private readonly prng: Prng;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId | null = null;
  private lead: NodeId | null = null;
  private state: State = "follower";
  private conf: ConfState;
  private readonly prs = new Map<NodeId, FollowerProgress>();
  private readonly votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Monotonic tick counter (lease and stall bookkeeping). */
  private tickCount = 0;
  /** Restarted with history: honour a possible leader lease for one election timeout. */
  private readonly startupLease: boolean;

  private leadTransferee: NodeId | null = null;
  /** Tick of the latest transfer start; its TimeoutNow may still make a voter campaign. */
  private transferTick = Number.NEGATIVE_INFINITY;
  /**
   * Set while a leader that applied its own removal keeps leading (refusing proposals)
   * until every remaining voter has echoed a heartbeat that carried the commit of its
   * removal, for one election timeout at most; then it hands off and steps down.
   * Stepping down at once left voters that never heard that commit counting the removed
   * leader in their quorums: with one more voter lost, none could ever be elected.
   * `rounds`: per voter, the first heartbeat round whose commit covered the removal.
   */
  private retiring: { index: number; sinceTick: number; rounds: Map<NodeId, number> } | null = null;
  /** Index of the latest ConfChange entry the leader knows of (0 if none unapplied). */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  /** Set when followers may need appends; flushed once per `ready()`/`hasReady()`. */
  private pendingBroadcast = false;

  private hbRound = 0;
  private readonly roundTicks = new Float64Array(MAX_HEARTBEAT_ROUNDS);
  private readonly reads = new ReadOnlyQueue();

  private msgs: Message[] = [];
  private msgsAfter: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHard: HardState;
  /** The term the host has confirmed durable (through advance()). */
  private durableTerm: number;
  private prevSoft: SoftState;
  /** Messages dropped because an outgoing queue was full; see {@link BasicStatus}. */
  private droppedMessages = 0;
  /** See {@link BasicStatus.lostLog}. */
  private lostLog: LostLog | null = null;
  /**
   * The highest commit index a leader has announced to this node (in memory only). A
   * candidate whose log ends below it lacks a committed entry and could not win in a
   * cluster whose disks are intact; refusing it keeps a voter whose data was wiped, and
   * that has since heard from a leader, from electing such a candidate.
   */
  private leaderCommitSeen = 0;

  /** Opens a core over `config.log`, replaying already-applied membership changes. */
  constructor(config: RaftConfig) {
    this.id = config.id;
    this.electionTicks = config.electionTicks ?? DEFAULT_ELECTION_TICKS;
    this.heartbeatTicks = config.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS;
    assert(this.heartbeatTicks >= 1, "heartbeatTicks must be ≥ 1");
    assert(this.electionTicks > this.heartbeatTicks, "electionTicks must exceed heartbeatTicks");
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxAppendBytes = config.maxAppendBytes ?? MAX_APPEND_BYTES;
    this.maxInflight = config.maxInflightAppends ?? MAX_INFLIGHT_APPENDS;
    this.maxUncommittedBytes = config.maxUncommittedBytes ?? MAX_UNCOMMITTED_BYTES;
    this.prng = new Prng(config.seed);

    const { hardState, conf } = config.log.initialState();
    const snapIndex = config.log.firstIndex() - 1;
    this.log = new RaftLog(config.log, hardState.commit, config.applied ?? snapIndex);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.startupLease = hardState.term > 0;
    this.conf = cloneConf(conf);
    this.replayConfChanges(snapIndex + 1, this.log.applied);
    this.prevHard = { term: hardState.term, vote: hardState.vote, commit: this.log.committed };
    this.durableTerm = hardState.term;
    this.becomeFollower(this.term, null);
    this.prevSoft = { leader: null, role: this.role() };
    this.assertInvariants();
  }

  // ---------------------------------------------------------------- public API

  /** Advances logical time by one tick. */
  tick(): void {
    this.tickCount++;
    if (this.state === "leader") this.tickLeader();
    else this.tickElection();
    this.assertInvariants();
  }

  /** Feeds one message from a peer; messages for other nodes or malformed are ignored. */
  step(m: Message): void {
    if (typeof m !== "object" || m === null || m.to !== this.id) return;
    if (!isValidMessage(m) || m.from === this.id) return;
    const term = this.term;
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // A voter that heard from a live leader lately ignores disruptive campaigns.
        if (this.inLease() && !m.transfer) return;
      }
      const keepTerm = m.type === MessageType.PreVote ||
        (m.type === MessageType.PreVoteResponse && !m.reject);
      if (!keepTerm) {
        const fromLeader = m.type === MessageType.Append || m.type === MessageType.Heartbeat ||
          m.type === MessageType.Snapshot;
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      this.answerStale(m);
      return;
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "precandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
    assert(this.term >= term, "a message never lowers the term");
    this.assertInvariants();
  }

  /** Proposes one application entry (leader only). */
  propose(data: Uint8Array): ProposeResult {
    return this.proposeBatch([data]);
  }

  /**
   * Proposes many entries, all or nothing; the result's index is the last one's. A batch
   * over the uncommitted-bytes limit is accepted only when nothing is uncommitted.
   */
  proposeBatch(items: Uint8Array[]): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal) return refusal;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) bytes += (items[i] as Uint8Array).byteLength;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.maxUncommittedBytes) {
      return { ok: false, reason: "uncommitted_limit", leader: this.lead };
    }
    const base = this.log.lastIndex() + 1;
    const ents: Entry[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      ents[i] = {
        term: this.term,
        index: base + i,
        type: EntryType.Normal,
        data: items[i] as Uint8Array,
      };
    }
    this.log.append(ents);
    this.uncommittedBytes += bytes;
    this.pendingBroadcast = true;
    assert(this.log.lastIndex() === base + items.length - 1, "a batch ends the log");
    return { ok: true, index: this.log.lastIndex(), term: this.term };
  }

  /** Proposes a membership change (one at a time, once this term has committed). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal) return refusal;
    if (!this.committedInTerm()) {
      return { ok: false, reason: "not_yet_committed_in_term", leader: this.lead };
    }
    if (this.pendingConfIndex > this.log.applied) {
      return { ok: false, reason: "conf_change_pending", leader: this.lead };
    }
    if (confChangeError(this.conf, cc) !== null) {
      return { ok: false, reason: "invalid_conf_change", leader: this.lead };
    }
    const data = encodeConfChange(cc);
    const index = this.log.lastIndex() + 1;
    this.log.append([{ term: this.term, index, type: EntryType.ConfChange, data }]);
    this.uncommittedBytes += data.byteLength;
    this.pendingConfIndex = index;
    this.pendingBroadcast = true;
    assert(this.log.lastIndex() === index, "a membership change ends the log");
    return { ok: true, index, term: this.term };
  }

  /**
   * Requests a read index for `context` (> 0, unique per node). The result arrives as a
   * ReadState in a later Ready; unservable requests are dropped (the host times out).
   */
  readIndex(context: number, mode: "safe" | "lease"): void {
    if (!Number.isSafeInteger(context) || context <= 0) return;
    if (this.state === "leader") {
      this.leaderRead(this.id, context, mode);
    } else if (this.lead !== null) {
      this.send({
        type: MessageType.ReadIndex,
        from: this.id,
        to: this.lead,
        term: this.term,
        context,
      });
    }
    assert(this.reads.length <= MAX_READ_INDEX_REQUESTS, "pending reads within their limit");
  }

  /** Starts handing leadership to voter `to`; false when that cannot be attempted. */
  transferLeader(to: NodeId): boolean {
    if (this.state !== "leader" || to === this.id || !this.conf.voters.includes(to)) {
      return false;
    }
    if (this.retiring !== null) return false; // it hands off by itself once retired
    const pr = this.prs.get(to);
    if (!pr) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    this.transferTick = this.tickCount; // aborted after one election timeout (tickLeader)
    assert(pr.match <= this.log.lastIndex(), "a follower matches no more than the leader holds");
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.pendingBroadcast = true;
    return true;
  }

  /**
   * Starts an election now (pre-vote first when enabled). Voters inside a leader lease,
   * or restarted less than an election timeout ago, ignore it; a non-voter never runs.
   */
  campaign(): void {
    const term = this.term;
    this.startCampaign(false);
    assert(this.term <= term + 1, "a campaign raises the term by one at most");
    this.assertInvariants();
  }

  /** The host could not deliver to `id`: stop pipelining to it. */
  reportUnreachable(id: NodeId): void {
    const pr = this.state === "leader" ? this.prs.get(id) : undefined;
    if (pr && pr.state === "replicate") pr.becomeProbe();
    assert(pr === undefined || pr.state !== "replicate", "an unreachable peer is not pipelined");
  }

  /** The host finished (ok) or failed shipping a snapshot's bytes to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.state === "leader" ? this.prs.get(id) : undefined;
    if (!pr || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or a heartbeat response) before probing again.
    pr.probeSent = true;
  }

  /** Whether `ready()` would return something to do. */
  hasReady(): boolean {
    this.flush();
    return this.msgs.length > 0 || this.msgsAfter.length > 0 || this.readStates.length > 0 ||
      this.log.hasUnstable() || this.log.hasNextCommitted() || this.hardStateChanged() ||
      this.softStateChanged();
  }

  /**
   * Takes, now, the messages that may leave before anything is persisted (what the next
   * Ready's `messages` would hold). The host calls it while a Ready's fsync is in
   * flight, so that heartbeats and appends are not held up by a slow disk; it never
   * returns anything that belongs in `messagesAfterPersist`.
   */
  takeMessages(): Message[] {
    this.flush();
    const out = this.msgs;
    this.msgs = [];
    assert(out.length <= MAX_PENDING_MESSAGES, "outgoing messages stay within their limit");
    return out;
  }

  /**
   * Takes, now, the committed entries and confirmed read states the next Ready would
   * hold, so that the host can apply them and answer reads while a Ready's fsync is in
   * flight instead of after it (under load that was a whole fsync added to every write
   * and to every read that had to wait for one). Only entries already durable here are
   * handed out, and none from a membership change on: those wait for a Ready. The host
   * applies the entries in order and then reports them with {@link appliedEntries}.
   */
  takeApplicable(): { committedEntries: Entry[]; readStates: ReadState[] } {
    this.flush();
    const committedEntries = this.log.takeCommitted(MAX_COMMITTED_BYTES_PER_READY, true);
    const readStates = this.readStates;
    this.readStates = [];
    const last = committedEntries[committedEntries.length - 1];
    assert(last === undefined || last.index <= this.log.committed, "only committed entries");
    assert(last === undefined || last.index <= this.log.persistedIndex(), "only durable entries");
    return { committedEntries, readStates };
  }

  /** The host applied `entries` (from a Ready or {@link takeApplicable}), in order. */
  appliedEntries(entries: readonly Entry[]): void {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    const first = entries[0] as Entry;
    assert(last.index === first.index + entries.length - 1, "applied entries are contiguous");
    assert(last.index <= this.log.applying, "only entries handed out are applied");
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      bytes += e.data.byteLength;
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    }
    this.log.appliedTo(last.index);
    assert(this.log.applied <= this.log.committed, "applied beyond commit");
    assert(this.log.applied >= last.index, "applied covers the entries just applied");
    if (this.state === "leader") {
      this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
    }
  }

  /** Takes the next batch of work; see the persistence contract on {@link Ready}. */
  ready(): Ready {
    this.flush();
    const hs = this.hardState();
    assert(hs.term >= this.prevHard.term, "term went backwards");
    assert(hs.commit >= this.prevHard.commit, "commit went backwards");
    assert(hs.commit <= this.log.lastIndex(), "commit beyond the last index");
    assert(hs.vote === null || hs.term > 0, "a vote belongs to a term");
    const changed = this.hardStateChanged();
    const snapshot = this.log.takeUnstableSnapshot();
    const entries = this.log.takeUnstableEntries();
    const rd: Ready = {
      softState: { leader: this.lead, role: this.role() },
      hardState: changed ? hs : null,
      // A commit index alone need not be synced (contract step 2); term, vote, entries
      // and snapshots must, before anything in messagesAfterPersist leaves.
      mustSync: snapshot !== null || entries.length > 0 ||
        hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
      snapshot,
      entries,
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfter,
      committedEntries: this.log.takeCommitted(MAX_COMMITTED_BYTES_PER_READY),
      readStates: this.readStates,
    };
    this.msgs = [];
    this.msgsAfter = [];
    this.readStates = [];
    this.prevHard = hs;
    this.prevSoft = rd.softState;
    this.assertReady(rd);
    return rd;
  }

  /** Postconditions of {@link ready}, checked at the ends of each list (O(1)). */
  private assertReady(rd: Ready): void {
    const first = rd.entries[0];
    const last = rd.entries[rd.entries.length - 1];
    if (first !== undefined && last !== undefined) {
      assert(last.index === first.index + rd.entries.length - 1, "Ready entries are contiguous");
      assert(last.term <= this.term, "Ready entries are of this term or older");
      assert(first.index > (rd.snapshot?.index ?? 0), "Ready entries follow its snapshot");
    }
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    assert(applied === undefined || applied.index <= this.log.committed, "apply only committed");
    // Entries of this Ready are not durable yet: nothing of them may be applied now.
    assert(
      applied === undefined || first === undefined || applied.index < first.index,
      "apply before persist",
    );
  }

  /** The host has done everything in `rd`. */
  advance(rd: Ready): void {
    const lastIndex = this.log.lastIndex();
    if (rd.hardState) this.durableTerm = Math.max(this.durableTerm, rd.hardState.term);
    if (rd.snapshot) {
      this.log.stableSnapTo(rd.snapshot.index);
      this.log.appliedTo(rd.snapshot.index);
    }
    const lastNew = rd.entries[rd.entries.length - 1];
    if (lastNew) this.log.stableTo(lastNew.index, lastNew.term);
    this.appliedEntries(rd.committedEntries);
    if (this.state === "leader") {
      const self = this.prs.get(this.id);
      if (self && self.maybeUpdate(this.log.persistedIndex(), this.tickCount)) {
        if (this.maybeCommit()) this.pendingBroadcast = true;
      }
    }
    assert(this.log.lastIndex() === lastIndex, "advance never changes the log's end");
    this.assertInvariants();
  }

  /** Term, role, leader and indexes, without copying membership or progress. */
  basicStatus(): BasicStatus {
    this.assertInvariants();
    return {
      id: this.id,
      term: this.term,
      role: this.role(),
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      lostLog: this.lostLog === null ? null : { ...this.lostLog },
      droppedMessages: this.droppedMessages,
    };
  }

  /** A snapshot of the core's state. */
  status(): RaftStatus {
    const progress = new Map<NodeId, Progress>();
    if (this.state === "leader") {
      for (const [id, pr] of this.prs) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
          inflight: pr.inflights.count,
        });
      }
    }
    return {
      ...this.basicStatus(),
      conf: cloneConf(this.conf),
      progress,
      leaseValid: this.leaseValid(),
    };
  }

  // ---------------------------------------------------------------- roles

  private role(): Role {
    if (this.state === "follower" && this.conf.learners.includes(this.id)) return "learner";
    return this.state;
  }

  /**
   * Whether we promised a leader not to help elect anyone else yet (the other half of
   * the leader's lease). A restarted node cannot remember whom it heard from, so it
   * keeps that promise for its first election timeout.
   */
  private inLease(): boolean {
    if (!this.checkQuorum || this.electionElapsed >= this.electionTicks) return false;
    return this.lead !== null || (this.startupLease && this.tickCount < this.electionTicks);
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private reset(term: number): void {
    assert(term >= this.term, "the term never goes back");
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.prng.intBetween(
      this.electionTicks,
      2 * this.electionTicks,
    );
    this.leadTransferee = null;
    this.retiring = null;
    this.votes.clear();
    this.prs.clear();
    this.reads.clear();
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.pendingBroadcast = false;
  }

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.state = "follower";
  }

  private startCampaign(transfer: boolean): void {
    if (this.state === "leader" || !this.promotable()) return;
    if (this.preVote && !transfer) this.becomePreCandidate();
    else this.becomeCandidate(transfer);
  }

  private becomePreCandidate(): void {
    // Term and vote stay as they are: a pre-vote changes nothing durable.
    this.state = "precandidate";
    this.lead = null;
    this.votes.clear();
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters, this.votes) === "won") {
      this.becomeCandidate(false);
      return;
    }
    this.requestVotes(MessageType.PreVote, this.term + 1, false);
  }

  private becomeCandidate(transfer: boolean): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = "candidate";
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters, this.votes) === "won") {
      this.becomeLeader();
      return;
    }
    this.requestVotes(MessageType.Vote, this.term, transfer);
  }

  private requestVotes(
    type: typeof MessageType.Vote | typeof MessageType.PreVote,
    term: number,
    transfer: boolean,
  ): void {
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      const m: VoteRequestMessage = {
        type,
        from: this.id,
        to,
        term,
        lastIndex,
        lastTerm,
        transfer,
      };
      // Our own vote must be durable before a real vote request leaves.
      if (type === MessageType.Vote) this.sendAfterPersist(m);
      else this.send(m);
    }
  }

  private becomeLeader(): void {
    assert(this.state === "candidate", "only a candidate becomes leader");
    this.reset(this.term);
    this.state = "leader";
    this.lead = this.id;
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) this.addProgress(id, false, next);
    for (const id of this.conf.learners) this.addProgress(id, true, next);
    const self = this.prs.get(this.id);
    assert(self !== undefined, "a leader is a voter");
    self.match = this.log.persistedIndex();
    self.recentActive = true;
    this.pendingConfIndex = this.lastConfChangeIndexAfter(this.log.applied);
    this.log.append([{ term: this.term, index: next, type: EntryType.Normal, data: EMPTY }]);
    this.pendingBroadcast = true;
  }

  private addProgress(id: NodeId, isLearner: boolean, next: number): void {
    const pr = new FollowerProgress(next, isLearner, this.maxInflight);
    pr.recentActive = id === this.id;
    pr.progressTick = this.tickCount;
    this.prs.set(id, pr);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed < this.randomizedElectionTimeout) return;
    if (this.promotable()) {
      this.electionElapsed = 0;
      this.startCampaign(false);
    } else if (this.lead !== null) {
      // A learner never campaigns, so nothing else would ever clear a leader it stopped
      // hearing from: it would keep reporting it (and ready) and send it reads that can
      // only time out. A voter forgets it here too, by pre-voting. The next append,
      // heartbeat or snapshot from any leader sets it again.
      this.lead = null;
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.retiring !== null && this.tickCount - this.retiring.sinceTick >= this.electionTicks) {
      this.finishRetiring(); // a voter that is down cannot hold the others up for longer
      return;
    }
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, null);
          return;
        }
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      }
    }
    if (this.leadTransferee !== null && this.tickCount - this.transferTick >= this.electionTicks) {
      this.leadTransferee = null; // a transfer that took a whole election timeout failed
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    return quorumValue(this.conf.voters, (id) => (this.prs.get(id)?.recentActive ? 1 : 0)) === 1;
  }

  // ---------------------------------------------------------------- step per role

  /** Answers a message from an older term with our term ("reply false, currentTerm"). */
  private answerStale(m: Message): void {
    if (m.type === MessageType.Append || m.type === MessageType.Heartbeat) {
      // The stale leader steps down. Without this, a node whose stale conf names only
      // departed peers would never learn the real term (sim finding F3).
      this.send({
        type: MessageType.AppendResponse,
        from: this.id,
        to: m.from,
        term: this.term,
        index: 0,
        reject: true,
        hintIndex: 0,
        hintTerm: 0,
      });
    } else if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
      const type = m.type === MessageType.Vote
        ? MessageType.VoteResponse
        : MessageType.PreVoteResponse;
      this.send({ type, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private handleVoteRequest(m: VoteRequestMessage): void {
    // Answered whatever our own (possibly stale) membership says: a learner may have
    // been promoted in entries it has not received yet, and the candidate only asks
    // voters of its own conf and counts only those. Learners never campaign.
    const isPre = m.type === MessageType.PreVote;
    const respType = isPre ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) ||
      (isPre && m.term > this.term);
    const holdsCommitted = m.lastIndex >= this.leaderCommitSeen;
    if (canVote && holdsCommitted && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      const resp: VoteResponseMessage = {
        type: respType,
        from: this.id,
        to: m.from,
        term: m.term,
        reject: false,
      };
      if (isPre) {
        this.send(resp);
      } else {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.sendAfterPersist(resp);
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        this.startCampaign(true);
        return;
      case MessageType.ReadIndexResponse:
        if (!m.reject && m.context > 0) this.pushReadState(m.context, m.index);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.VoteResponse:
      case MessageType.PreVoteResponse: {
        const pre = this.state === "precandidate";
        if (pre !== (m.type === MessageType.PreVoteResponse)) return;
        if (pre && !m.reject && m.term !== this.term + 1) return;
        if (!pre && m.term !== this.term) return;
        this.votes.set(m.from, !m.reject);
        const result = voteResult(this.conf.voters, this.votes);
        if (result === "won") {
          if (pre) this.becomeCandidate(false);
          else this.becomeLeader();
        } else if (result === "lost") {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    switch (m.type) {
      case MessageType.AppendResponse:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResponse:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.ReadIndex:
        this.leaderRead(m.from, m.context, "safe");
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower side

  private respondAppend(to: NodeId, index: number): void {
    this.sendAfterPersist({
      type: MessageType.AppendResponse,
      from: this.id,
      to,
      term: this.term,
      index,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
  }

  private handleAppend(m: AppendMessage): void {
    if (m.commit > this.leaderCommitSeen) this.leaderCommitSeen = m.commit;
    let prevIndex = m.prevIndex;
    let prevTerm = m.prevTerm;
    let entries = m.entries;
    const committed = this.log.committed;
    if (prevIndex < committed) {
      // Skip what we already know is committed; keep any newer tail.
      const skip = committed - prevIndex;
      if (entries.length <= skip) {
        this.respondAppend(m.from, committed);
        return;
      }
      prevIndex = committed;
      prevTerm = (entries[skip - 1] as Entry).term;
      entries = entries.slice(skip);
    }
    const lastNew = this.log.maybeAppend(prevIndex, prevTerm, m.commit, entries);
    if (lastNew >= 0) {
      this.respondAppend(m.from, lastNew);
      return;
    }
    const hintIndex = this.log.findConflictByTerm(
      Math.min(prevIndex, this.log.lastIndex()),
      prevTerm,
    );
    this.sendAfterPersist({
      type: MessageType.AppendResponse,
      from: this.id,
      to: m.from,
      term: this.term,
      index: prevIndex,
      reject: true,
      hintIndex,
      hintTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    if (m.commit > this.leaderCommitSeen) this.leaderCommitSeen = m.commit;
    if (m.commit > this.log.lastIndex()) {
      this.lostLog ??= { lastIndex: this.log.lastIndex(), acknowledged: m.commit };
      return;
    }
    this.log.commitTo(m.commit);
    const resp: HeartbeatResponseMessage = {
      type: MessageType.HeartbeatResponse,
      from: this.id,
      to: m.from,
      term: this.term,
      context: m.context,
    };
    // The echo vouches for our term, and (for the leader's lost-append detection) comes
    // after the acks of every append received before it. When both already hold, it
    // need not wait behind an fsync (ReadIndex rounds on an idle cluster stay fast).
    const settled = this.term === this.durableTerm && this.msgsAfter.length === 0 &&
      !this.log.hasUnstable() && this.log.persistedIndex() === this.log.lastIndex();
    if (settled) this.send(resp);
    else this.sendAfterPersist(resp);
  }

  private handleSnapshot(m: SnapshotMessage): void {
    const s = m.snapshot;
    if (s.index <= this.log.committed) {
      this.respondAppend(m.from, this.log.committed);
    } else if (this.log.matchTerm(s.index, s.term)) {
      this.log.commitTo(s.index);
      this.respondAppend(m.from, this.log.committed);
    } else {
      const meta = { index: s.index, term: s.term, conf: cloneConf(s.conf) };
      this.log.restore(meta);
      this.conf = cloneConf(s.conf);
      this.respondAppend(m.from, s.index);
    }
  }

  // ---------------------------------------------------------------- leader side

  private handleAppendResponse(m: AppendResponseMessage, pr: FollowerProgress): void {
    if (m.index > this.log.lastIndex()) return; // cannot ack what we never sent
    if (m.reject) {
      const hint = m.hintTerm > 0
        ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm)
        : m.hintIndex;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.pendingBroadcast = true;
      }
      return;
    }
    const updated = pr.maybeUpdate(m.index, this.tickCount);
    // A probe answered at the match point found it, even if it taught us nothing new.
    if (updated || (pr.state === "probe" && pr.match === m.index)) {
      if (pr.state === "probe") {
        pr.becomeReplicate();
      } else if (pr.state === "snapshot") {
        if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
      } else {
        pr.inflights.freeLE(m.index);
      }
      if (updated) this.maybeCommit();
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.sendTimeoutNow(m.from);
      }
    } else if (pr.state === "replicate") {
      pr.inflights.freeLE(m.index);
    }
    this.pendingBroadcast = true;
  }

  private handleHeartbeatResponse(m: HeartbeatResponseMessage, pr: FollowerProgress): void {
    pr.probeSent = false;
    if (pr.state === "replicate") {
      if (pr.inflights.full()) pr.inflights.freeFirstOne();
      // Appends can be lost without a rejection ever coming back. Acks travel in order
      // ahead of the echo of a later heartbeat, so an echo of our latest round with the
      // match still short of what we had sent means appends were lost; when echoes come
      // back late or reordered, fall back to "no progress for an election timeout".
      const lost = m.context === pr.hbSentRound && pr.match < pr.hbSentIndex;
      const stalled = pr.match < this.log.lastIndex() &&
        this.tickCount - pr.progressTick >= this.electionTicks;
      if (lost || stalled) {
        pr.becomeProbe();
        pr.progressTick = this.tickCount;
      }
    }
    if (pr.match < this.log.lastIndex()) this.pendingBroadcast = true;
    if (m.context > pr.ackedRound && m.context <= this.hbRound) {
      pr.ackedRound = m.context;
      this.releaseReads();
      if (this.retiring !== null) this.maybeFinishRetiring();
    }
  }

  private maybeCommit(): boolean {
    const idx = quorumValue(this.conf.voters, (id) => this.prs.get(id)?.match ?? 0);
    // Figure 8: only an entry of the current term is committed by counting replicas.
    if (idx <= this.log.committed || this.log.term(idx) !== this.term) return false;
    this.log.commitTo(idx);
    assert(this.log.term(this.log.committed) === this.term, "a leader counts only its own term");
    this.reads.markCommitted(idx);
    this.pendingBroadcast = true;
    return true;
  }

  private committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private proposalRefusal(): Refusal | null {
    if (this.state !== "leader") return { ok: false, reason: "not_leader", leader: this.lead };
    if (this.leadTransferee !== null || this.retiring !== null) {
      return { ok: false, reason: "transfer_in_progress", leader: this.lead };
    }
    return null;
  }

  /** Sends what each follower is missing (and the new commit), then starts read rounds. */
  private flush(): void {
    if (this.state !== "leader") return;
    if (this.pendingBroadcast) {
      this.pendingBroadcast = false;
      for (const [id, pr] of this.prs) if (id !== this.id) this.sendAppend(id, pr);
    }
    if (this.reads.hasUnassigned()) this.bcastHeartbeat();
  }

  private sendAppend(to: NodeId, pr: FollowerProgress): void {
    for (;;) {
      if (pr.isPaused()) return;
      const last = this.log.lastIndex();
      // Nothing new to send, unless a probe must still find the match point.
      const probing = pr.state === "probe" && pr.match < pr.next - 1;
      if (pr.next > last && this.log.committed <= pr.sentCommit && !probing) return;
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      const entries = prevTerm === undefined
        ? null
        : this.log.entriesFrom(pr.next, this.maxAppendBytes);
      if (prevTerm === undefined || entries === null) {
        this.sendSnapshot(to, pr);
        return;
      }
      const m: AppendMessage = {
        type: MessageType.Append,
        from: this.id,
        to,
        term: this.term,
        prevIndex,
        prevTerm,
        entries,
        commit: this.log.committed,
      };
      this.send(m);
      pr.sentCommit = this.log.committed;
      const lastSent = entries[entries.length - 1];
      if (pr.state === "probe") {
        pr.probeSent = true;
        return;
      }
      if (lastSent === undefined) return;
      pr.next = lastSent.index + 1;
      pr.inflights.add(lastSent.index);
    }
  }

  private sendSnapshot(to: NodeId, pr: FollowerProgress): void {
    if (!pr.recentActive) return; // do not ship a snapshot to a peer that seems down
    const meta = this.log.storage.snapshotMeta();
    assert(meta.index > 0, "compacted log without a snapshot");
    this.send({
      type: MessageType.Snapshot,
      from: this.id,
      to,
      term: this.term,
      snapshot: meta,
    });
    pr.becomeSnapshot(meta.index);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, from: this.id, to, term: this.term });
  }

  private bcastHeartbeat(): void {
    this.hbRound++;
    this.roundTicks[this.hbRound % MAX_HEARTBEAT_ROUNDS] = this.tickCount;
    const retiring = this.retiring;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      pr.hbSentRound = this.hbRound;
      pr.hbSentIndex = pr.next - 1;
      if (
        retiring !== null && !retiring.rounds.has(id) &&
        Math.min(pr.match, this.log.committed) >= retiring.index
      ) {
        retiring.rounds.set(id, this.hbRound); // this heartbeat tells it the removal committed
      }
      this.send({
        type: MessageType.Heartbeat,
        from: this.id,
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed),
        context: this.hbRound,
      });
    }
    this.reads.assign(this.hbRound);
    this.releaseReads();
  }

  // ---------------------------------------------------------------- reads

  private leaderRead(from: NodeId, context: number, mode: "safe" | "lease"): void {
    if (mode === "lease" && this.leaseValid()) {
      this.answerRead({ context, from, index: this.log.committed, round: 0 });
      return;
    }
    const index = this.committedInTerm() ? this.log.committed : -1;
    this.reads.add(context, from, index); // dropped when full: the asker times out
  }

  /** The newest heartbeat round a quorum of voters has echoed (ours counts as echoed). */
  private confirmedRound(): number {
    return quorumValue(
      this.conf.voters,
      (id) => id === this.id ? this.hbRound : (this.prs.get(id)?.ackedRound ?? 0),
    );
  }

  private releaseReads(): void {
    if (this.reads.length === 0) return;
    for (const r of this.reads.release(this.confirmedRound())) this.answerRead(r);
  }

  private answerRead(r: PendingRead): void {
    if (r.from === this.id) {
      this.pushReadState(r.context, r.index);
      return;
    }
    this.send({
      type: MessageType.ReadIndexResponse,
      from: this.id,
      to: r.from,
      term: this.term,
      context: r.context,
      index: r.index,
      reject: false,
    });
  }

  private pushReadState(context: number, index: number): void {
    if (this.readStates.length >= MAX_PENDING_READ_STATES) return;
    this.readStates.push({ context, index });
  }

  /**
   * A leader lease: a quorum echoed a heartbeat sent less than (election timeout −
   * margin) ticks ago, so no voter of that quorum will elect anyone else before it ends.
   */
  private leaseValid(): boolean {
    if (
      this.state !== "leader" || !this.checkQuorum || this.leadTransferee !== null ||
      this.retiring !== null
    ) {
      return false;
    }
    if (!this.committedInTerm()) return false;
    // A TimeoutNow sent during a transfer (even an aborted one) may still be in flight:
    // its campaign bypasses voters' leases, so ours is void for a while after.
    if (this.tickCount - this.transferTick < 2 * this.electionTicks) return false;
    if (this.conf.voters.length === 1) return true;
    const leaseTicks = this.electionTicks - LEASE_MARGIN_TICKS;
    const round = this.confirmedRound();
    if (leaseTicks <= 0 || round <= 0 || this.hbRound - round >= MAX_HEARTBEAT_ROUNDS) {
      return false;
    }
    const sentTick = this.roundTicks[round % MAX_HEARTBEAT_ROUNDS] as number;
    return this.tickCount - sentTick < leaseTicks;
  }

  // ---------------------------------------------------------------- membership

  private applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    if (cc === null || confChangeError(this.conf, cc) !== null) return;
    this.conf = applyConfChange(this.conf, cc);
    if (this.state === "leader") {
      this.syncProgress();
      if (!this.conf.voters.includes(this.id)) {
        this.leadTransferee = null;
        this.retiring = { index: e.index, sinceTick: this.tickCount, rounds: new Map() };
        this.bcastHeartbeat(); // tells the voters that hold the removal that it committed
        return;
      }
      if (this.leadTransferee !== null && !this.conf.voters.includes(this.leadTransferee)) {
        this.leadTransferee = null;
      }
      this.maybeCommit();
      this.releaseReads();
    } else if (this.state !== "follower" && !this.promotable()) {
      this.becomeFollower(this.term, null);
    }
  }

  /** Retires once every remaining voter echoed a heartbeat carrying the removal's commit. */
  private maybeFinishRetiring(): void {
    const retiring = this.retiring;
    if (retiring === null) return;
    for (const id of this.conf.voters) {
      const round = retiring.rounds.get(id);
      if (round === undefined || (this.prs.get(id)?.ackedRound ?? 0) < round) return;
    }
    this.finishRetiring();
  }

  private finishRetiring(): void {
    this.retiring = null;
    this.handOffAfterRemoval();
    this.becomeFollower(this.term, null);
  }

  /** A removed leader asks its most caught-up voter to campaign at once. */
  private handOffAfterRemoval(): void {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of this.conf.voters) {
      const pr = this.prs.get(id);
      if (pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best !== null && bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
  }

  private syncProgress(): void {
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) {
      const pr = this.prs.get(id);
      if (pr) pr.isLearner = false;
      else this.addProgress(id, false, next);
    }
    for (const id of this.conf.learners) {
      const pr = this.prs.get(id);
      if (pr) pr.isLearner = true;
      else this.addProgress(id, true, next);
    }
    for (const id of [...this.prs.keys()]) {
      if (!this.conf.voters.includes(id) && !this.conf.learners.includes(id)) {
        this.prs.delete(id);
      }
    }
    this.pendingBroadcast = true;
  }

  private replayConfChanges(lo: number, hi: number): void {
    for (let i = lo; i <= hi;) {
      const ents = this.log.storage.entries(i, hi + 1, MAX_APPEND_BYTES);
      for (const e of ents) {
        if (e.type !== EntryType.ConfChange) continue;
        const cc = decodeConfChange(e.data);
        if (cc !== null) this.conf = applyConfChange(this.conf, cc);
      }
      i += ents.length;
    }
  }

  private lastConfChangeIndexAfter(applied: number): number {
    let found = 0;
    for (let i = applied + 1; i <= this.log.lastIndex();) {
      const ents = this.log.entriesFrom(i, MAX_APPEND_BYTES);
      if (ents === null || ents.length === 0) break;
      for (const e of ents) if (e.type === EntryType.ConfChange) found = e.index;
      i += ents.length;
    }
    return found;
  }

  // ---------------------------------------------------------------- output

  /**
   * The core's O(1) invariants, checked at the end of every public method that changes
   * state: applied ≤ commit ≤ last index, term monotonic, a leader leads itself.
   */
  private assertInvariants(): void {
    const log = this.log;
    // Static messages: this runs on every step and tick, and a template would allocate.
    assert(log.applied <= log.committed, "applied ≤ commit");
    assert(log.committed <= log.lastIndex(), "commit ≤ last index");
    assert(this.term >= this.prevHard.term, "term went backwards");
    assert(this.term >= this.durableTerm, "term below the durable term");
    assert(this.state !== "leader" || this.lead === this.id, "a leader names itself leader");
    assert(this.state !== "candidate" || this.vote === this.id, "a candidate votes for itself");
    const self = this.state === "leader" ? this.prs.get(this.id) : undefined;
    assert(
      self === undefined || self.match <= log.persistedIndex(),
      "leader counts only its fsync",
    );
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private hardStateChanged(): boolean {
    const p = this.prevHard;
    return p.term !== this.term || p.vote !== this.vote || p.commit !== this.log.committed;
  }

  private softStateChanged(): boolean {
    return this.prevSoft.leader !== this.lead || this.prevSoft.role !== this.role();
  }

  private send(m: Message): void {
    if (this.msgs.length >= MAX_PENDING_MESSAGES) {
      this.droppedMessages++;
      return;
    }
    this.msgs.push(m);
  }

  private sendAfterPersist(m: Message): void {
    if (this.msgsAfter.length >= MAX_PENDING_MESSAGES) {
      this.droppedMessages++;
      return;
    }
    this.msgsAfter.push(m);
  }
}
