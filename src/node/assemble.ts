/**
 * The node's composition root: builds the Raft core and the modules around it (Ready
 * loop, apply step, membership, snapshots, expiry, reads, watches) from a node's
 * {@link NodeDeps}, and wires the loop's hooks between them. The facade in `node.ts`
 * only answers API calls with these parts.
 *
 * @module
 */

import { Raft, type RaftConfig } from "../raft/raft.ts";
import type { Entry, Message, NodeId, Ready, SnapshotMeta } from "../raft/messages.ts";
import { MessageType } from "../raft/messages.ts";
import type { RaftStorage } from "../storage/raft_storage.ts";
import type { Transport } from "../transport/transport.ts";
import type { KvStore } from "../kv/store.ts";
import { DeadlineQueue } from "../http/deadlines.ts";
import { type MemberBook, saveMemberBook } from "./member_book.ts";
import { kvLimitsOf, type MemberAddress, type NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { ReadBatcher } from "./read_batcher.ts";
import { WatchHub } from "./watch_hub.ts";
import { RaftkvMetrics } from "./metrics.ts";
import { type NodeClock, nodeClock, type Scheduler, type TimerSource } from "./clock.ts";
import { ReadyLoop } from "./ready_loop.ts";
import { Applier } from "./apply.ts";
import { Membership } from "./membership.ts";
import { Snapshots } from "./snapshots.ts";
import { ExpiryProposer } from "./expiry.ts";
import { ConditionWaiters } from "./waiters.ts";
import { exitOnFatal, lostLogError } from "./startup.ts";

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
  /**
   * One-shot timers on the `monotonicMs` clock, for write deadlines (default
   * `setTimeout`; the simulator fires them on virtual time).
   */
  timers?: TimerSource;
  /** Persists the member book (default: members.json in the data directory). */
  saveMemberBook?: (book: MemberBook) => Promise<void>;
  /** Reads the member book (default: members.json in the data directory). */
  loadMemberBook?: () => Promise<MemberBook | null>;
  /** Builds the consensus core (default `new Raft`; the simulator may wrap it). */
  newRaft?: (config: RaftConfig) => Raft;
  /** Observes what the node applies (the simulator checks replicas against each other). */
  tap?: NodeTap;
  /** Called when the node cannot go on safely (an fsync failed). Default: exit(1). */
  onFatal?: (error: unknown) => void;
  /** Seed for the core's election jitter. */
  seed?: number;
  /** Metrics this node records (GET /metrics); a private set when absent. */
  metrics?: RaftkvMetrics;
}

/** What an observer (the simulator) hears from a running node. */
export interface NodeTap {
  /** Entries applied, in order (before their writers are answered). */
  applied(entries: readonly Entry[]): void;
  /** A received snapshot replaced the state machine at `meta.index`. */
  installed(meta: SnapshotMeta): void;
}

/** Every part of a running node, wired together. */
export class NodeParts {
  readonly id: NodeId;
  readonly config: NodeConfig;
  readonly storage: RaftStorage;
  readonly transport: Transport;
  readonly log: Logger;
  readonly clock: NodeClock;
  readonly metrics: RaftkvMetrics;
  readonly raft: Raft;
  readonly loop: ReadyLoop;
  readonly applier: Applier;
  readonly members: Membership;
  readonly snapshots: Snapshots;
  readonly expiry: ExpiryProposer;
  readonly waiters: ConditionWaiters;
  readonly reads: ReadBatcher;
  readonly watches: WatchHub;
  /** The flags' key and value limits, for encoding entries as the store checks them. */
  readonly kvLimits: { maxKeyBytes: number; maxValueBytes: number };
  /** The state machine; replaced when a snapshot is installed. */
  kv: KvStore;
  /** The leader last written to the log, to log each change once. */
  #loggedLeader: NodeId | null = null;

  /** Builds the parts over `kv` and the `members` known at start. */
  constructor(deps: NodeDeps, kv: KvStore, members: Map<NodeId, MemberAddress>) {
    const { config, storage, log, transport } = deps;
    this.id = config.id;
    this.config = config;
    this.storage = storage;
    this.transport = transport;
    this.log = log;
    this.kv = kv;
    this.kvLimits = kvLimitsOf(config);
    const clock = nodeClock({
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.monotonicMs ? { monotonicMs: deps.monotonicMs } : {}),
      ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
      ...(deps.timers ? { timers: deps.timers } : {}),
    });
    this.clock = clock;
    this.metrics = deps.metrics ?? new RaftkvMetrics();
    const onFatal = deps.onFatal ?? exitOnFatal(log);
    const snapshot = storage.snapshotMeta();
    const raft = (deps.newRaft ?? ((c: RaftConfig) => new Raft(c)))({
      id: config.id,
      log: storage,
      seed: deps.seed ?? (crypto.getRandomValues(new Uint32Array(1))[0] ?? 1),
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      applied: snapshot.index,
    });
    this.raft = raft;
    const kick = () => this.loop.kick();
    this.waiters = new ConditionWaiters(clock.now);
    this.members = new Membership({
      config,
      raft,
      transport,
      log,
      now: clock.now,
      kick,
      guard: (fn) => this.loop.guard(fn),
      awaitApplied: (i, t, s) => this.applier.awaitApplied(i, t, s),
      waiters: this.waiters,
      saveBook: deps.saveMemberBook ?? ((book) => saveMemberBook(config.dataDir, book)),
    }, members);
    this.applier = new Applier(
      {
        kv: () => this.kv,
        applyConfChange: (e) => this.members.applyConfChange(e),
        writeDeadlines: new DeadlineQueue(config.writeTimeoutMs, clock.monotonicMs, clock.timers),
      },
      snapshot.index,
      snapshot.term,
    );
    this.snapshots = new Snapshots({
      config,
      raft,
      storage,
      transport,
      log,
      clock,
      applier: this.applier,
      members: this.members,
      kv: () => this.kv,
      replaceKv: (next) => {
        this.kv = next;
        this.watches.attach(next);
      },
      step: (m) => this.loop.step(m),
      kick,
      failOnAssertion: (e) => this.loop.failOnAssertion(e),
      observeSnapshot: (seconds) => this.metrics.observeSnapshot(seconds),
    }, snapshot.index);
    this.expiry = new ExpiryProposer(config.tickMs, clock.now);
    this.reads = new ReadBatcher({
      readIndex: (ctx, mode) => {
        this.loop.guard(() => raft.readIndex(ctx, mode));
        kick();
      },
      applied: () => this.applier.applied,
      timeoutMs: config.writeTimeoutMs,
      now: clock.now,
    });
    this.loop = new ReadyLoop(raft, storage, {
      send: (messages) => this.#send(messages),
      installSnapshot: async (meta) => {
        await this.snapshots.install(meta);
        deps.tap?.installed(meta);
      },
      apply: (entries) => {
        deps.tap?.applied(entries);
        this.applier.apply(entries);
      },
      confirmReads: (readStates) => {
        for (const rs of readStates) this.reads.confirmed(rs.context, rs.index);
        this.reads.drain();
      },
      afterAdvance: (rd) => this.#afterAdvance(rd),
      lostLog: (from, lastIndex, acknowledged) =>
        onFatal(lostLogError(this.id, from, lastIndex, acknowledged)),
      fatal: onFatal,
      observePersist: (n, ms) => this.metrics.observePersist(n, ms / 1000),
    }, clock.monotonicMs);
    this.watches = new WatchHub(() => this.kv);
  }

  /** Routes inbound traffic into the loop and snapshot store. */
  attachTransport(): void {
    this.transport.onMessage = (m) => {
      if (this.loop.stopped) return;
      this.members.heardFrom(m.from);
      this.loop.step(m);
    };
    this.transport.onSnapshot = (m, chunks) => this.snapshots.receive(m, chunks);
    this.transport.onPeerHttpUrl = (id, url) => this.members.learnHttpUrl(id, url);
    this.members.syncPeers();
  }

  /** One tick of the node's clock (the scheduler calls it every `tickMs`). */
  tick(): void {
    if (this.loop.stopped) return;
    try {
      this.loop.tick();
      this.reads.expire();
      this.expiry.maybePropose(this.raft, this.kv); // proposes to the core
      this.members.onTick(); // may propose a promotion
      this.snapshots.maybeTake();
    } catch (e) {
      // A broken assertion stops the node through onFatal, not the timer's callback.
      if (!this.loop.failOnAssertion(e)) throw e;
      return;
    }
    this.waiters.check(); // deadlines pass on ticks
    this.loop.kick();
  }

  #afterAdvance(rd: Ready): void {
    const { leader, role } = rd.softState;
    if (leader !== this.#loggedLeader) {
      // Elections are the first thing an operator looks for after an incident.
      const term = rd.hardState?.term ?? this.raft.basicStatus().term;
      this.log.log(
        leader === null ? "warn" : "info",
        leader === null ? "leader lost" : "leader elected",
        { leader, term, role },
      );
      this.#loggedLeader = leader;
    }
    this.metrics.observeLeader(leader);
    this.reads.drain();
    // A lone voter would otherwise wait a full election timeout for nothing.
    if (leader === null && role === "follower") {
      const conf = this.raft.status().conf;
      if (conf.voters.length === 1 && conf.voters[0] === this.id) this.raft.campaign();
    }
    this.waiters.check(); // soft state changes here: transfers and hand-offs complete
    this.snapshots.maybeTake();
  }

  #send(messages: Message[]): void {
    for (const m of messages) {
      if (m.type === MessageType.Snapshot) this.snapshots.send(m);
      else this.transport.send(m);
    }
  }
}
