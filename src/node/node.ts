/**
 * The node: wires the Raft core, storage, transport and the KV state machine together,
 * and implements the {@link NodeApi} the HTTP layer talks to and the {@link AdminApi}.
 * It is a facade over modules a newcomer can read one at a time:
 *
 * - `ready_loop.ts`: the Ready loop, following the persistence contract of
 *   `raft/messages.ts` (send, persist, apply, advance; the group commit);
 * - `apply.ts`: applying committed entries and answering the writers waiting on them;
 * - `membership.ts`: the member book, add/promote/remove/transfer, promotion rules,
 *   catch-up reports and the hand-off at stop;
 * - `snapshots.ts`: snapshot policy, send, receive and install;
 * - `expiry.ts`: TTL expiry; `clock.ts`: the one clock and the tick's scheduler;
 * - `refusals.ts`: what clients are told when the core refuses a proposal.
 *
 * @module
 */

import { Raft } from "../raft/raft.ts";
import type { Message, NodeId, Ready, SnapshotMessage } from "../raft/messages.ts";
import { MessageType } from "../raft/messages.ts";
import type { RaftStorage } from "../storage/raft_storage.ts";
import type { Transport } from "../transport/transport.ts";
import { KvStore } from "../kv/store.ts";
import { encodeEnvelope } from "../kv/codec.ts";
import type { ApplyResult, Consistency, KeyValue, KvCommand, WatchEvent } from "../kv/types.ts";
import { RaftkvError, removedMemberError } from "../errors.ts";
import type { NodeApi, NodeStatus } from "../http/node_api.ts";
import type { AddMemberRequest, AdminApi, ClusterInfo, MemberInfo } from "../http/admin_api.ts";
import { DeadlineQueue } from "../http/deadlines.ts";
import { loadMemberBook, type MemberBook, saveMemberBook } from "./member_book.ts";
import type { MemberAddress, NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { decodeNodeSnapshot, encodeNodeSnapshot } from "./snapshot_format.ts";
import { ReadBatcher } from "./read_batcher.ts";
import { WatchHub } from "./watch_hub.ts";
import { type NodeSample, RaftkvMetrics } from "./metrics.ts";
import { type NodeClock, nodeClock, type Scheduler, type Ticker } from "./clock.ts";
import { ReadyLoop } from "./ready_loop.ts";
import { Applier, MAX_PENDING_WRITES } from "./apply.ts";
import { Membership } from "./membership.ts";
import { Snapshots } from "./snapshots.ts";
import { ExpiryProposer } from "./expiry.ts";
import { ConditionWaiters } from "./waiters.ts";
import { notApplied, refusalError } from "./refusals.ts";

export { MAX_PENDING_WRITES };

/** What a node is built from; tests pass in-memory storage and transport. */
export interface NodeDeps {
  config: NodeConfig;
  storage: RaftStorage;
  transport: Transport;
  log: Logger;
  /** The wall clock: stamped into entries for TTLs, and every deadline in the node. */
  now?: () => number;
  /** A monotonic clock for metrics timing, in ms (default `performance.now`). */
  monotonicMs?: () => number;
  /** Where the tick comes from (default `setInterval`; the simulator ticks itself). */
  scheduler?: Scheduler;
  /** Persists the member book (default: members.json in the data directory). */
  saveMemberBook?: (book: MemberBook) => Promise<void>;
  /** Called when the node cannot go on safely (an fsync failed). Default: exit(1). */
  onFatal?: (error: unknown) => void;
  /** Seed for the core's election jitter. */
  seed?: number;
  /** Metrics this node records (GET /metrics); a private set when absent. */
  metrics?: RaftkvMetrics;
}

/** A running raftkv node. */
export class RaftkvNode implements NodeApi, AdminApi {
  readonly id: NodeId;
  /** What this node records for `GET /metrics`. */
  readonly metrics: RaftkvMetrics;
  readonly #config: NodeConfig;
  readonly #storage: RaftStorage;
  readonly #transport: Transport;
  readonly #log: Logger;
  readonly #clock: NodeClock;
  readonly #onFatal: (error: unknown) => void;
  readonly #raft: Raft;
  #kv: KvStore;
  readonly #loop: ReadyLoop;
  readonly #applier: Applier;
  readonly #members: Membership;
  readonly #snapshots: Snapshots;
  readonly #expiry: ExpiryProposer;
  readonly #waiters: ConditionWaiters;
  readonly #reads: ReadBatcher;
  readonly #watches: WatchHub;
  #ticker: Ticker | undefined;
  #stopping = false;
  /** The leader last written to the log, to log each change once. */
  #loggedLeader: NodeId | null = null;

  private constructor(deps: NodeDeps, kv: KvStore, members: Map<NodeId, MemberAddress>) {
    const { config, storage, log } = deps;
    this.id = config.id;
    this.#config = config;
    this.#storage = storage;
    this.#transport = deps.transport;
    this.#log = log;
    const clock = nodeClock({
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.monotonicMs ? { monotonicMs: deps.monotonicMs } : {}),
      ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
    });
    this.#clock = clock;
    this.#onFatal = deps.onFatal ?? exitOnFatal(log);
    this.#kv = kv;
    const snapshot = storage.snapshotMeta();
    const raft = new Raft({
      id: config.id,
      log: storage,
      seed: deps.seed ?? (crypto.getRandomValues(new Uint32Array(1))[0] ?? 1),
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      applied: snapshot.index,
    });
    this.#raft = raft;
    const kick = () => this.#loop.kick();
    this.#waiters = new ConditionWaiters(clock.now);
    this.#members = new Membership({
      config,
      raft,
      transport: deps.transport,
      log,
      now: clock.now,
      kick,
      awaitApplied: (i, t, s) => this.#applier.awaitApplied(i, t, s),
      waiters: this.#waiters,
      saveBook: deps.saveMemberBook ?? ((book) => saveMemberBook(config.dataDir, book)),
    }, members);
    this.#applier = new Applier(
      {
        kv: () => this.#kv,
        applyConfChange: (e) => this.#members.applyConfChange(e),
        writeDeadlines: new DeadlineQueue(config.writeTimeoutMs),
      },
      snapshot.index,
      snapshot.term,
    );
    this.#snapshots = new Snapshots({
      config,
      raft,
      storage,
      transport: deps.transport,
      log,
      now: clock.now,
      monotonicMs: clock.monotonicMs,
      kv: () => this.#kv,
      replaceKv: (next, index, term) => {
        this.#kv = next;
        this.#watches.attach(next);
        this.#applier.jumpTo(index, term);
      },
      applied: () => ({ index: this.#applier.applied, term: this.#applier.appliedTerm }),
      members: () => this.#members.entries(),
      memberIds: () => this.#members.sortedIds(),
      adoptMembers: (list) => this.#members.adoptSnapshotMembers(list),
      step: (m) => this.#loop.step(m),
      kick,
      observeSnapshot: (ms) => this.metrics.observeSnapshot(ms / 1000),
    }, snapshot.index);
    this.#expiry = new ExpiryProposer(config.tickMs, clock.now);
    this.#reads = new ReadBatcher({
      readIndex: (ctx, mode) => {
        raft.readIndex(ctx, mode);
        kick();
      },
      applied: () => this.#applier.applied,
      timeoutMs: config.writeTimeoutMs,
      now: clock.now,
    });
    this.#loop = new ReadyLoop(raft, storage, {
      send: (messages) => this.#send(messages),
      installSnapshot: (meta) => this.#snapshots.install(meta),
      apply: (entries) => this.#applier.apply(entries),
      confirmReads: (readStates) => {
        for (const rs of readStates) this.#reads.confirmed(rs.context, rs.index);
        this.#reads.drain();
      },
      afterAdvance: (rd) => this.#afterAdvance(rd),
      lostLog: (from, lastIndex, acknowledged) =>
        this.#onFatal(lostLogError(this.id, from, lastIndex, acknowledged)),
      fatal: (e) => this.#onFatal(e),
      observePersist: (n, ms) => this.metrics.observePersist(n, ms / 1000),
    }, clock.monotonicMs);
    this.#watches = new WatchHub(() => this.#kv);
    this.metrics = deps.metrics ?? new RaftkvMetrics();
    this.metrics.sampleWith(() => this.#metricsSample());
  }

  /** Restores state from storage and starts ticking, listening and applying. */
  static async start(deps: NodeDeps): Promise<RaftkvNode> {
    const { storage, config } = deps;
    const book = await loadMemberBook(config.dataDir);
    if (book?.removed) {
      throw new Error(
        `node ${config.id} was removed from the cluster; it cannot start as a member again. ` +
          `Wipe ${config.dataDir} and add it anew (POST /v1/cluster/members or --join).`,
      );
    }
    const members = new Map(book?.members ?? []);
    for (const [id, addr] of config.initialCluster) members.set(id, addr);
    let kv = new KvStore();
    const opened = storage.openSnapshot();
    if (opened && opened.meta.index > 0) {
      const decoded = await decodeNodeSnapshot(opened.chunks());
      kv = await KvStore.restore(decoded.kvChunks);
      for (const [id, addr] of decoded.header.members) {
        if (!members.has(id)) members.set(id, addr);
      }
    }
    const node = new RaftkvNode(deps, kv, members);
    node.#members.saveBook();
    await node.#startIo();
    return node;
  }

  async #startIo(): Promise<void> {
    this.#transport.onMessage = (m) => {
      if (this.#loop.stopped) return;
      this.#members.heardFrom(m.from);
      this.#loop.step(m);
    };
    this.#transport.onSnapshot = (m, chunks) => this.#snapshots.receive(m, chunks);
    this.#members.syncPeers();
    await this.#transport.start();
    this.#watches.attach(this.#kv);
    this.#ticker = this.#clock.scheduler.every(this.#config.tickMs, () => this.tick());
    this.#loop.start();
  }

  /** One tick of the node's clock (the scheduler calls it every `tickMs`). */
  tick(): void {
    if (this.#loop.stopped) return;
    this.#loop.tick();
    this.#reads.expire();
    this.#expiry.maybePropose(this.#raft, this.#kv);
    this.#members.onTick();
    this.#snapshots.maybeTake();
    this.#waiters.check();
    this.#loop.kick();
  }

  #afterAdvance(rd: Ready): void {
    const { leader, role } = rd.softState;
    if (leader !== this.#loggedLeader) {
      // Elections are the first thing an operator looks for after an incident.
      const term = rd.hardState?.term ?? this.#raft.basicStatus().term;
      this.#log.log(
        leader === null ? "warn" : "info",
        leader === null ? "leader lost" : "leader elected",
        { leader, term, role },
      );
      this.#loggedLeader = leader;
    }
    this.metrics.observeLeader(leader);
    this.#reads.drain();
    // A lone voter would otherwise wait a full election timeout for nothing.
    if (leader === null && role === "follower") {
      const conf = this.#raft.status().conf;
      if (conf.voters.length === 1 && conf.voters[0] === this.id) this.#raft.campaign();
    }
    this.#waiters.check();
    this.#snapshots.maybeTake();
  }

  #send(messages: Message[]): void {
    for (const m of messages) {
      if (m.type === MessageType.Snapshot) this.#snapshots.send(m as SnapshotMessage);
      else this.#transport.send(m);
    }
  }

  // ---- NodeApi ------------------------------------------------------------------

  /** Proposes a change and resolves once it is applied here. */
  write(
    command: KvCommand,
    options: { idempotencyKey: string | null; signal: AbortSignal },
  ): Promise<ApplyResult> {
    let refused: RaftkvError | null = null;
    if (this.#loop.stopped || this.#stopping) refused = notApplied("the node is shutting down");
    else if (this.#members.removed) refused = removedMemberError(this.id);
    else if (this.#applier.pendingWrites >= MAX_PENDING_WRITES) {
      refused = new RaftkvError("too_many_requests", "too many writes in flight", 1);
    }
    if (refused !== null) {
      this.metrics.observeProposal(false);
      return Promise.reject(refused);
    }
    const nowMs = this.#clock.now();
    const data = encodeEnvelope({ command, idempotencyKey: options.idempotencyKey, nowMs });
    const proposed = this.#raft.propose(data);
    this.metrics.observeProposal(proposed.ok);
    if (!proposed.ok) {
      return Promise.reject(refusalError(proposed.reason, proposed.leader, this.id));
    }
    this.#loop.kick();
    return this.#applier.awaitApplied(proposed.index, proposed.term, options.signal);
  }

  /** Reads one key at the requested consistency. */
  async get(
    key: string,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ kv: KeyValue | null; revision: number }> {
    await this.#awaitReadable(consistency, signal);
    return { kv: this.#kv.get(key), revision: this.#kv.revision };
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
    const page = this.#kv.list(prefix, after, limit);
    return { items: page.items, more: page.more, revision: this.#kv.revision };
  }

  /** Streams changes from `fromRevision` on. */
  watch(prefix: string, fromRevision: number, signal: AbortSignal): AsyncIterable<WatchEvent> {
    if (this.#members.removed) throw removedMemberError(this.id);
    return this.#watches.watch(prefix, fromRevision, signal);
  }

  /** The node's view of the cluster. */
  status(): NodeStatus {
    const s = this.#raft.basicStatus();
    const removed = this.#members.removed;
    const applied = this.#applier.applied;
    return {
      id: this.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      leaderHttpUrl: s.leader === this.id
        ? this.#config.advertiseHttpUrl
        : (s.leader === null ? undefined : this.#members.address(s.leader))?.httpUrl ?? null,
      commitIndex: s.commit,
      appliedIndex: applied,
      // commit > 0: a joiner hears a leader before it holds any of the log.
      ready: !removed && s.leader !== null && s.commit > 0 && applied >= s.commit,
      removed,
    };
  }

  async #awaitReadable(consistency: Consistency, signal: AbortSignal): Promise<void> {
    if (this.#members.removed) throw removedMemberError(this.id);
    if (consistency === "stale") return;
    if (this.#raft.basicStatus().leader === null) {
      throw new RaftkvError("unavailable", "no leader is known: cannot confirm a fresh read", 1);
    }
    await this.#reads.read(consistency === "lease" ? "lease" : "safe", signal);
  }

  // ---- AdminApi ---------------------------------------------------------------------

  /** Membership and replication progress as this node knows it. */
  cluster(): ClusterInfo {
    return this.#members.cluster();
  }

  /** Adds a learner (and, for role voter, promotes it once caught up). */
  addMember(request: AddMemberRequest, signal: AbortSignal): Promise<MemberInfo> {
    return this.#members.addMember(request, signal);
  }

  /** Promotes a caught-up learner to voter. */
  promote(id: string, signal: AbortSignal): Promise<void> {
    return this.#members.promote(id, signal);
  }

  /** Removes a member; a leader removing itself steps down once it commits. */
  removeMember(id: string, signal: AbortSignal): Promise<void> {
    return this.#members.removeMember(id, signal);
  }

  /** Hands leadership to `to` and waits until it leads. */
  transferLeader(to: string, signal: AbortSignal): Promise<void> {
    return this.#members.transferLeader(to, signal);
  }

  /** A consistent backup: waits for a linearizable read point, then streams the state. */
  async backup(signal: AbortSignal): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    await this.#awaitReadable("linearizable", signal);
    const kvSnapshot = this.#kv.snapshot(); // copy-on-write: writes continue meanwhile
    const header = { version: 1 as const, members: this.#members.entries() };
    return { index: kvSnapshot.index, chunks: encodeNodeSnapshot(header, kvSnapshot.chunks) };
  }

  /** Takes a snapshot now (admin endpoint). */
  async snapshot(): Promise<{ index: number; term: number }> {
    const meta = await this.takeSnapshot();
    return { index: meta.index, term: meta.term };
  }

  /** Snapshots the applied state now and compacts the log behind it. */
  takeSnapshot(): Promise<{ index: number; term: number }> {
    return this.#snapshots.take();
  }

  /** Cheap values read at every scrape of `GET /metrics`. */
  #metricsSample(): NodeSample {
    const transport = this.#transport.stats();
    return {
      status: this.status(),
      members: this.cluster().members,
      transport,
      peerSendDropped: transport.droppedByPeer,
      keys: this.#kv.size,
      revision: this.#kv.revision,
    };
  }

  /**
   * Learns addresses of members this node has not heard of (a joiner gets them from the
   * cluster it joins, before it has any log to learn them from).
   */
  rememberMembers(members: Iterable<[NodeId, MemberAddress]>): void {
    this.#members.remember(members);
  }

  // ---- shutdown -------------------------------------------------------------------

  /** Hands leadership away if leader, stops ticking and the loop, closes I/O. */
  async stop(): Promise<void> {
    if (this.#loop.stopped || this.#stopping) return;
    this.#stopping = true;
    await this.#members.handOff();
    this.#ticker?.cancel();
    await this.#loop.stop();
    this.#waiters.failAll();
    this.#reads.failAll(notApplied("the node is shutting down"));
    this.#applier.failAll();
    this.#watches.closeAll();
    // So a restart replays everything this node knew committed.
    await this.#loop.saveHeldHardState().catch((e) =>
      this.#log.log("warn", "could not save the last commit index", { error: String(e) })
    );
    await this.#members.flushed();
    await this.#transport.close();
    await this.#storage.close();
  }
}

/** The default reaction to a fatal error: log it and exit the process (the one place). */
function exitOnFatal(log: Logger): (e: unknown) => void {
  return (e) => {
    log.log("error", "fatal error (storage failure or broken invariant): exiting", {
      error: e instanceof Error ? e.stack ?? e.message : String(e),
    });
    Deno.exit(1);
  };
}

/** Why a voter whose data was lost stops (see `BasicStatus.lostLog`). */
function lostLogError(id: NodeId, from: NodeId, lastIndex: number, acknowledged: number): Error {
  return new Error(
    `this node's log ends at index ${lastIndex}, but leader ${from} counts it as ` +
      `holding index ${acknowledged}: its data was lost (data directory wiped or ` +
      `truncated). Remove it (DELETE /v1/cluster/members/${id}) and add it again ` +
      `with an empty data directory and --join`,
  );
}
