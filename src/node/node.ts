/**
 * The node's facade: implements the {@link NodeApi} the HTTP layer talks to and the
 * {@link AdminApi}, over parts a newcomer can read one at a time:
 *
 * - `assemble.ts`: builds and wires the parts below from the node's dependencies;
 * - `ready_loop.ts`: the Ready loop, following the persistence contract of
 *   `raft/messages.ts` (send, persist, apply, advance; the group commit);
 * - `apply.ts`: applying committed entries and answering the writers waiting on them;
 * - `membership.ts`: the member book, add/promote/remove/transfer, promotion rules,
 *   catch-up reports and the hand-off at stop;
 * - `snapshots.ts`: snapshot policy, send, receive and install;
 * - `expiry.ts`: TTL expiry; `clock.ts`: the one clock and the tick's scheduler;
 * - `refusals.ts`: what clients are told when the core refuses a proposal;
 * - `startup.ts`: what a node starts from, and the one place it exits on a fatal error;
 * - `join.ts`, `founder_check.ts`: startup calls to other members (`--join`; a wiped
 *   founder refusing to start), run by `main.ts` on the node's clock;
 * - `lease_driver.ts`: keepalive batching and lease lookups.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import { encodeEnvelope } from "../kv/codec.ts";
import type { ApplyResult, Consistency, KeyValue, KvCommand, WatchEvent } from "../kv/types.ts";
import { RaftkvError, removedMemberError } from "../errors.ts";
import { isAssertionFailure } from "../assert.ts";
import type { LeaseView, NodeApi, NodeStatus } from "../http/node_api.ts";
import type { TxnRequest, TxnResult } from "../kv/txn_types.ts";
import { LeaseDriver } from "./lease_driver.ts";
import type { AddMemberRequest, AdminApi, ClusterInfo, MemberInfo } from "../http/admin_api.ts";
import type { MemberAddress } from "./config.ts";
import { encodeNodeSnapshot } from "./snapshot_format.ts";
import type { NodeSample, RaftkvMetrics } from "./metrics.ts";
import type { Ticker } from "./clock.ts";
import { MAX_PENDING_WRITES } from "./apply.ts";
import { type NodeDeps, NodeParts } from "./assemble.ts";
import { loadStartState } from "./startup.ts";
import { notApplied, refusalError } from "./refusals.ts";

export { MAX_PENDING_WRITES };
export type { NodeDeps };

/** A running raftkv node. */
export class RaftkvNode implements NodeApi, AdminApi {
  readonly id: NodeId;
  /** What this node records for `GET /metrics`. */
  readonly metrics: RaftkvMetrics;
  readonly #p: NodeParts;
  readonly #leases: LeaseDriver;
  #ticker: Ticker | undefined;
  #stopping = false;

  private constructor(parts: NodeParts) {
    this.#p = parts;
    this.id = parts.id;
    this.metrics = parts.metrics;
    this.#leases = new LeaseDriver({
      propose: (command) => this.write(command, { idempotencyKey: null, signal: NEVER_ABORTED }),
      now: parts.clock.now,
      kv: () => parts.kv,
      awaitReadable: (consistency, signal) => this.#awaitReadable(consistency, signal),
    });
    this.metrics.sampleWith(() => this.#metricsSample());
  }

  /** Restores state from storage and starts ticking, listening and applying. */
  static async start(deps: NodeDeps): Promise<RaftkvNode> {
    const { kv, members } = await loadStartState(deps.config, deps.storage, deps.loadMemberBook);
    const node = new RaftkvNode(new NodeParts(deps, kv, members));
    const p = node.#p;
    p.members.saveBook();
    p.attachTransport();
    await p.transport.start();
    p.watches.attach(p.kv);
    node.#ticker = p.clock.scheduler.every(p.config.tickMs, () => node.tick());
    p.loop.start();
    return node;
  }

  /** One tick of the node's clock (the scheduler calls this; the simulator may too). */
  tick(): void {
    this.#p.tick();
    if (!this.#p.loop.stopped) this.#leases.tick();
  }

  // ---- NodeApi ------------------------------------------------------------------

  /** Proposes a change and resolves once it is applied here. */
  write(
    command: KvCommand,
    options: { idempotencyKey: string | null; signal: AbortSignal },
  ): Promise<ApplyResult> {
    let refused: RaftkvError | null = null;
    if (this.#p.loop.stopped || this.#stopping) refused = notApplied("the node is shutting down");
    else if (this.#p.members.removed) refused = removedMemberError(this.id);
    else if (this.#p.applier.pendingWrites >= MAX_PENDING_WRITES) {
      refused = new RaftkvError("too_many_requests", "too many writes in flight", 1);
    }
    if (refused !== null) {
      this.metrics.observeProposal(false);
      return Promise.reject(refused);
    }
    const nowMs = this.#p.clock.now();
    const data = encodeEnvelope(
      { command, idempotencyKey: options.idempotencyKey, nowMs },
      this.#p.kvLimits,
    );
    let proposed;
    try {
      proposed = this.#p.loop.guard(() => this.#p.raft.propose(data));
    } catch (e) {
      // A broken assertion has stopped the node (fatal): the client may retry elsewhere.
      if (!isAssertionFailure(e)) throw e;
      this.metrics.observeProposal(false);
      return Promise.reject(notApplied("the node stopped on an internal error"));
    }
    this.metrics.observeProposal(proposed.ok);
    if (!proposed.ok) {
      return Promise.reject(refusalError(proposed.reason, proposed.leader, this.id));
    }
    this.#p.loop.kick();
    return this.#p.applier.awaitApplied(proposed.index, proposed.term, options.signal);
  }

  /** Reads one key at the requested consistency. */
  async get(
    key: string,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ kv: KeyValue | null; revision: number }> {
    await this.#awaitReadable(consistency, signal);
    return { kv: this.#p.kv.get(key), revision: this.#p.kv.revision };
  }

  /** Lists keys under a prefix in key order. */
  async list(
    prefix: string,
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ items: KeyValue[]; more: boolean; revision: number }> {
    await this.#awaitReadable(consistency, signal);
    const page = this.#p.kv.list(prefix, after, limit);
    return { items: page.items, more: page.more, revision: this.#p.kv.revision };
  }

  /** Streams changes from `fromRevision` on. */
  watch(prefix: string, fromRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent> {
    if (this.#p.members.removed) throw removedMemberError(this.id);
    return this.#p.watches.watch(prefix, fromRevision, signal);
  }

  /** Renews a lease through the next tick's keepalive entry (see `lease_driver.ts`). */
  keepalive(id: string, signal: AbortSignal): Promise<LeaseView | null> {
    if (this.#p.members.removed) return Promise.reject(removedMemberError(this.id));
    return this.#leases.keepalive(id, signal);
  }

  /** One lease with a page of its attached keys. */
  lease(
    id: string,
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ) {
    return this.#leases.lease(id, after, limit, consistency, signal);
  }

  /** A page of leases. */
  leases(after: string | null, limit: number, consistency: Consistency, signal: AbortSignal) {
    return this.#leases.leases(after, limit, consistency, signal);
  }

  /** A transaction that writes nothing, served by the read index without a log entry. */
  async readTxn(
    txn: TxnRequest,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<TxnResult> {
    await this.#awaitReadable(consistency, signal);
    return this.#p.kv.readTxn(txn);
  }

  /** The node's view of the cluster. */
  status(): NodeStatus {
    const s = this.#p.raft.basicStatus();
    const removed = this.#p.members.removed;
    const applied = this.#p.applier.applied;
    return {
      id: this.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      leaderHttpUrl: s.leader === this.id
        ? this.#p.config.advertiseHttpUrl
        : (s.leader === null ? undefined : this.#p.members.address(s.leader))?.httpUrl ?? null,
      commitIndex: s.commit,
      appliedIndex: applied,
      // commit > 0: a joiner hears a leader before it holds any of the log.
      ready: !removed && s.leader !== null && s.commit > 0 && applied >= s.commit,
      removed,
    };
  }

  async #awaitReadable(consistency: Consistency, signal: AbortSignal): Promise<void> {
    if (this.#p.members.removed) throw removedMemberError(this.id);
    if (consistency === "stale") return;
    if (this.#p.raft.basicStatus().leader === null) {
      throw new RaftkvError("unavailable", "no leader is known: cannot confirm a fresh read", 1);
    }
    await this.#p.reads.read(consistency === "lease" ? "lease" : "safe", signal);
  }

  // ---- AdminApi ---------------------------------------------------------------------

  /** Membership and replication progress as this node knows it. */
  cluster(): ClusterInfo {
    return this.#p.members.cluster();
  }

  /** Adds a learner (and, for role voter, promotes it once caught up). */
  addMember(request: AddMemberRequest, signal: AbortSignal): Promise<MemberInfo> {
    return this.#p.members.addMember(request, signal);
  }

  /** Promotes a caught-up learner to voter. */
  promote(id: string, signal: AbortSignal): Promise<void> {
    return this.#p.members.promote(id, signal);
  }

  /** Removes a member; a leader removing itself steps down once it commits. */
  removeMember(id: string, signal: AbortSignal): Promise<void> {
    return this.#p.members.removeMember(id, signal);
  }

  /** Hands leadership to `to` and waits until it leads. */
  transferLeader(to: string, signal: AbortSignal): Promise<void> {
    return this.#p.members.transferLeader(to, signal);
  }

  /** A consistent backup: waits for a linearizable read point, then streams the state. */
  async backup(signal: AbortSignal): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    await this.#awaitReadable("linearizable", signal);
    const kvSnapshot = this.#p.kv.snapshot(); // copy-on-write: writes continue meanwhile
    const header = { version: 1 as const, members: this.#p.members.entries() };
    return { index: kvSnapshot.index, chunks: encodeNodeSnapshot(header, kvSnapshot.chunks) };
  }

  /** Takes a snapshot now (admin endpoint). */
  async snapshot(): Promise<{ index: number; term: number }> {
    const meta = await this.takeSnapshot();
    return { index: meta.index, term: meta.term };
  }

  /** Snapshots the applied state now and compacts the log behind it. */
  takeSnapshot(): Promise<{ index: number; term: number }> {
    return this.#p.snapshots.take();
  }

  /** Cheap values read at every scrape of `GET /metrics`. */
  #metricsSample(): NodeSample {
    const transport = this.#p.transport.stats();
    return {
      status: this.status(),
      members: this.cluster().members,
      transport,
      peerSendDropped: transport.droppedByPeer,
      keys: this.#p.kv.size,
      revision: this.#p.kv.revision,
      leases: this.#p.kv.leaseCount,
      keepaliveEntries: this.#leases.entriesProposed,
    };
  }

  /**
   * Learns addresses of members this node has not heard of (a joiner gets them from the
   * cluster it joins, before it has any log to learn them from).
   */
  rememberMembers(members: Iterable<[NodeId, MemberAddress]>): void {
    this.#p.members.remember(members);
  }

  // ---- shutdown -------------------------------------------------------------------

  /**
   * The first step of a graceful stop, taken while the HTTP server still answers:
   * hands leadership away if leader (followers then forward writes to the new leader,
   * not to a port about to close), then ends every watch stream and refuses new ones,
   * since the server, closing, waits for requests in flight and a stream never ends by
   * itself (a stopping node with one open watch kept its leadership and its closed
   * port until the watcher left: no write got through meanwhile).
   */
  async beginStop(): Promise<void> {
    if (this.#p.loop.stopped || this.#stopping) return;
    await this.#p.members.handOff();
    this.#p.watches.close(
      new RaftkvError("unavailable", `node ${this.id} is stopping; resume on another member`, 1),
    );
  }

  /** Hands leadership away if leader, stops ticking and the loop, closes I/O. */
  async stop(): Promise<void> {
    if (this.#p.loop.stopped || this.#stopping) return;
    this.#stopping = true;
    await this.#p.members.handOff();
    this.#ticker?.cancel();
    await this.#p.loop.stop();
    this.#p.waiters.failAll();
    this.#p.reads.failAll(notApplied("the node is shutting down"));
    this.#leases.close(notApplied("the node is shutting down"));
    this.#p.applier.failAll();
    this.#p.watches.closeAll();
    // So a restart replays everything this node knew committed.
    await this.#p.loop.saveHeldHardState().catch((e) =>
      this.#p.log.log("warn", "could not save the last commit index", { error: String(e) })
    );
    await this.#p.members.flushed();
    await this.#p.transport.close();
    await this.#p.storage.close();
  }
}

/** The signal of writes the node makes for itself: their deadline is the node's own. */
const NEVER_ABORTED = new AbortController().signal;
