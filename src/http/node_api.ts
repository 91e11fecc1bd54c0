/**
 * The only view `http/` has of a raftkv node. The node driver (`src/node/`) implements
 * it; tests implement it with an in-memory fake, so the HTTP layer runs without sockets.
 *
 * @module
 */

import type { ApplyResult, Consistency, KeyValue, KvCommand, WatchEvent } from "../kv/types.ts";
import type { TxnRequest, TxnResult } from "../kv/txn_types.ts";

/** A lease as the API shows it: remaining time on the answering node's clock. */
export interface LeaseView {
  id: string;
  ttlMs: number;
  remainingMs: number;
}

/** What a node reports about itself: served by `GET /v1/status` and used for routing. */
export interface NodeStatus {
  /** This node's id. */
  id: string;
  /** This node's Raft role right now. */
  role: "follower" | "precandidate" | "candidate" | "leader" | "learner";
  /** Current Raft term. */
  term: number;
  /** Id of the leader this node knows of, or null. */
  leader: string | null;
  /** Base URL of the leader's HTTP API (e.g. `http://10.0.0.1:8080`), or null if unknown. */
  leaderHttpUrl: string | null;
  /** Highest log index known committed. */
  commitIndex: number;
  /** Highest log index applied to the key-value store. */
  appliedIndex: number;
  /** True when the node can serve requests (caught up, knows a leader): drives `GET /ready`. */
  ready: boolean;
  /**
   * True once this node has been removed from the cluster: it then refuses every read
   * and write (503) and is never ready, until its data directory is wiped.
   */
  removed: boolean;
}

/** The node operations the HTTP API needs. */
export interface NodeApi {
  /**
   * Propose a change and wait until it is applied; the result or a typed refusal.
   * Throws RaftkvError("unavailable") when not leader/no quorum, ("outcome_unknown")
   * after the deadline (`signal` aborts with a TimeoutError when the deadline passes).
   */
  write(
    command: KvCommand,
    options: { idempotencyKey: string | null; signal: AbortSignal },
  ): Promise<ApplyResult>;
  /** One key at the requested consistency, with the store revision the read saw. */
  get(
    key: string,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ kv: KeyValue | null; revision: number }>;
  /**
   * Up to `limit` keys starting with `prefix`, in key order, strictly after `after`
   * when given; `more` is true when further keys match.
   */
  list(
    prefix: string,
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ items: KeyValue[]; more: boolean; revision: number }>;
  /**
   * Events with revision ≥ fromRevision matching prefix, then live ones; throws
   * RaftkvError("revision_compacted"). Ends when signal aborts.
   *
   * The compaction check should fail fast: either `watch()` throws, or the first
   * `next()` rejects without waiting for new events, so HTTP can answer 410 instead
   * of opening a stream.
   */
  watch(prefix: string, fromRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent>;
  /** A cheap, synchronous snapshot of the node's state. */
  status(): NodeStatus;
  /**
   * Renews lease `id` (on the leader): answered once the keepalive entry that carries it
   * has applied; null when the lease is gone. Throws like `write`.
   */
  keepalive(id: string, signal: AbortSignal): Promise<LeaseView | null>;
  /**
   * One lease with up to `limit` of its attached keys, in key order, strictly after
   * `after` when given (`more`: further keys follow); null when it does not exist.
   */
  lease(
    id: string,
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ lease: LeaseView; keys: string[]; more: boolean } | null>;
  /** Up to `limit` leases after lease id `after`, in id order. */
  leases(
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ items: LeaseView[]; more: boolean }>;
  /** Evaluates a transaction that writes in neither branch, on the read path. */
  readTxn(txn: TxnRequest, consistency: Consistency, signal: AbortSignal): Promise<TxnResult>;
}
