/**
 * The vocabulary of the consensus core: log entries, persistent state, membership and
 * the messages nodes exchange. Storage and transport depend on these types and on
 * nothing else in `src/raft/`, so this file must stay free of logic.
 *
 * Numeric codes ({@link EntryType}, {@link MessageType}) travel on the wire and in the
 * WAL. They are append-only: never renumber or reuse a code.
 *
 * @module
 */

/** A node's stable identity within a cluster, e.g. `"n1"`. */
export type NodeId = string;

/** Kinds of log entry. Append-only codes. */
export const EntryType = {
  /** Application data, opaque to the core. Empty data is a leader's no-op. */
  Normal: 0,
  /** A membership change; `data` is {@link ConfChange} encoded by `encodeConfChange`. */
  ConfChange: 1,
} as const;
/** One of the {@link EntryType} codes. */
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** One record of the replicated log. */
export interface Entry {
  /** The term of the leader that created the entry. */
  term: number;
  /** Position in the log, starting at 1. */
  index: number;
  /** What `data` holds. */
  type: EntryType;
  /** Payload; for {@link EntryType.Normal} entries it is opaque to the core. */
  data: Uint8Array;
}

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  /** The latest term this node has seen. */
  term: number;
  /** The node voted for in `term`, or null. */
  vote: NodeId | null;
  /** The highest index known to be committed (durable as a hint, never decreases). */
  commit: number;
}

/** Cluster membership: who votes and who only listens. No id is in both lists. */
export interface ConfState {
  /** Voting members; commit and election quorums are majorities of these. */
  voters: NodeId[];
  /** Non-voting members: they receive the log but never vote or campaign. */
  learners: NodeId[];
}

/** A single membership change, proposed through the log. */
export interface ConfChange {
  /** What to do with `nodeId`. `promote` turns a learner into a voter. */
  type: "addVoter" | "addLearner" | "promote" | "remove";
  /** The member concerned. */
  nodeId: NodeId;
  /**
   * Opaque to the core (the node stores peer and HTTP addresses here, as JSON).
   * Empty string when unused.
   */
  context: string;
}

/**
 * Describes a snapshot of the applied state at `index`. The core handles only this
 * metadata; the snapshot's bytes are stored and shipped by the host.
 */
export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
  /** Membership as of `index`. */
  conf: ConfState;
}

/** Message kinds. Append-only codes: they are the peer protocol's type codes. */
export const MessageType = {
  Append: 1,
  AppendResponse: 2,
  Vote: 3,
  VoteResponse: 4,
  PreVote: 5,
  PreVoteResponse: 6,
  Heartbeat: 7,
  HeartbeatResponse: 8,
  Snapshot: 9,
  TimeoutNow: 10,
  ReadIndex: 11,
  ReadIndexResponse: 12,
} as const;
/** One of the {@link MessageType} codes. */
export type MessageType = typeof MessageType[keyof typeof MessageType];

/** Fields every message carries. */
export interface MessageHeader {
  /** Sender. */
  from: NodeId;
  /** Receiver. */
  to: NodeId;
  /** The sender's term (for PreVote: the term it would campaign in). */
  term: number;
}

/** Leader → follower: entries following (prevIndex, prevTerm), plus the commit index. */
export interface AppendMessage extends MessageHeader {
  type: typeof MessageType.Append;
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

/**
 * Follower → leader. On success `index` is the follower's last matching index. On
 * reject, `index` is the rejected `prevIndex` and (hintIndex, hintTerm) let the leader
 * skip a whole conflicting term at once.
 */
export interface AppendResponseMessage extends MessageHeader {
  type: typeof MessageType.AppendResponse;
  index: number;
  reject: boolean;
  hintIndex: number;
  hintTerm: number;
}

/** Candidate → voter (real or pre-vote): "my log ends at (lastIndex, lastTerm)". */
export interface VoteRequestMessage extends MessageHeader {
  type: typeof MessageType.Vote | typeof MessageType.PreVote;
  lastIndex: number;
  lastTerm: number;
  /** Set when campaigning because of a leadership transfer: bypasses the leader lease. */
  transfer: boolean;
}

/** Voter → candidate. */
export interface VoteResponseMessage extends MessageHeader {
  type: typeof MessageType.VoteResponse | typeof MessageType.PreVoteResponse;
  reject: boolean;
}

/**
 * Leader → follower keep-alive. `context` is non-zero when the heartbeat also confirms
 * leadership for a batch of ReadIndex requests.
 */
export interface HeartbeatMessage extends MessageHeader {
  type: typeof MessageType.Heartbeat;
  commit: number;
  context: number;
}

/** Follower → leader: echoes the heartbeat's `context`. */
export interface HeartbeatResponseMessage extends MessageHeader {
  type: typeof MessageType.HeartbeatResponse;
  context: number;
}

/**
 * Leader → follower whose next entry was compacted away. Carries only metadata: the
 * host attaches and streams the snapshot's bytes, and steps this message into the
 * receiving core once the bytes are stored.
 */
export interface SnapshotMessage extends MessageHeader {
  type: typeof MessageType.Snapshot;
  snapshot: SnapshotMeta;
}

/** Leader → transfer target: "campaign now". */
export interface TimeoutNowMessage extends MessageHeader {
  type: typeof MessageType.TimeoutNow;
}

/** Follower or learner → leader: ask for a read index for the local read `context`. */
export interface ReadIndexMessage extends MessageHeader {
  type: typeof MessageType.ReadIndex;
  context: number;
}

/** Leader → asker: the confirmed read `index` for `context`, or a refusal. */
export interface ReadIndexResponseMessage extends MessageHeader {
  type: typeof MessageType.ReadIndexResponse;
  context: number;
  index: number;
  reject: boolean;
}

/** Every message the core sends or receives. */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | VoteRequestMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage;

/** A node's role. */
export type Role = "follower" | "precandidate" | "candidate" | "leader" | "learner";

/** A confirmed read index: a read with `context` may be served once applied ≥ `index`. */
export interface ReadState {
  context: number;
  index: number;
}

/** State that is not persisted, reported for observability and request routing. */
export interface SoftState {
  leader: NodeId | null;
  role: Role;
}

/**
 * One batch of work for the host, taken with `ready()` and confirmed with `advance()`.
 *
 * Persistence contract, in order:
 * 1. `messages` may be sent at once, in parallel with step 2 (this is how a leader
 *    replicates while its own fsync runs; it counts itself toward commit only after
 *    `advance()`).
 * 2. Make `snapshot` (if any), then `entries` (overwriting any stored suffix from
 *    `entries[0].index`), then `hardState` (if any) durable, and visible to the
 *    core's `StableLog`. When `mustSync` is false the Ready's only durable change is a
 *    commit index (term and vote unchanged, no entries, no snapshot): the host may keep
 *    that hard state and write it later, with the next Ready whose `mustSync` is true,
 *    as etcd's `MustSync` allows: a commit index lost in a crash is learned again from
 *    the leader, and the log never commits below a snapshot. When `mustSync` is true the
 *    host writes the newest hard state it holds (this Ready's, or a held one).
 * 3. Only then send `messagesAfterPersist` (votes and acks that promise durability).
 * 4. Apply `committedEntries` in order (all are already durable locally; they may be
 *    applied before step 2 completes), and serve `readStates` once applied ≥ their
 *    index. With a `snapshot`, the host installs it first and applies nothing before.
 * 5. Call `advance()`. The next `ready()` covers everything since.
 *
 * Between `ready()` and `advance()` (while step 2 runs), the host may go on:
 * 6. `takeMessages()` returns messages that may leave at once (what the next Ready's
 *    `messages` would hold, never anything for `messagesAfterPersist`); send them.
 * 7. Unless this Ready installs a snapshot, `takeApplicable()` returns entries that
 *    committed meanwhile and are durable here (none from a membership change on) and
 *    confirmed read states. Apply the entries in order, after this Ready's
 *    `committedEntries`, then report them with `appliedEntries()`; serve the reads
 *    like step 4's.
 * 8. `advance()` also reports this Ready's `committedEntries` as applied; entries
 *    reported through `appliedEntries()` are never reported again.
 *
 * A host that breaks this order can lose acknowledged writes (acks before fsync), vote
 * twice in a term (a vote sent before it is durable) or diverge (apply out of order).
 */
export interface Ready {
  softState: SoftState;
  hardState: HardState | null;
  /** Whether step 2 must reach the disk before step 3 (see the contract above). */
  mustSync: boolean;
  snapshot: SnapshotMeta | null;
  entries: Entry[];
  messages: Message[];
  messagesAfterPersist: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
}
