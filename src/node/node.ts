/**
 * The driver: the only place that wires the Raft core, storage, transport and the KV
 * state machine together, and the {@link NodeApi} the HTTP layer talks to.
 *
 * One loop handles one `Ready` at a time, following the persistence contract in
 * `raft/messages.ts`. While its fsync runs, new proposals and messages accumulate in
 * the core and leave together in the next `Ready`: that is the group commit.
 *
 * @module
 */

import { Raft } from "../raft/raft.ts";
import { decodeConfChange } from "../raft/conf_change_codec.ts";
import {
  type ConfChange,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type Ready,
  type SnapshotMessage,
  type SnapshotMeta,
} from "../raft/messages.ts";
import type { RaftStorage } from "../storage/raft_storage.ts";
import type { Transport } from "../transport/transport.ts";
import { KvStore } from "../kv/store.ts";
import { encodeEnvelope } from "../kv/codec.ts";
import type { ApplyResult, Consistency, KeyValue, KvCommand, WatchEvent } from "../kv/types.ts";
import { RaftkvError, removedMemberError } from "../errors.ts";
import type { LeaseView, NodeApi, NodeStatus } from "../http/node_api.ts";
import type { TxnRequest, TxnResult } from "../kv/txn_types.ts";
import { LeaseDriver } from "./lease_driver.ts";
import type { AddMemberRequest, AdminApi, ClusterInfo, MemberInfo } from "../http/admin_api.ts";
import { loadMemberBook, type MemberBook, mergeAddress, saveMemberBook } from "./member_book.ts";
import type { MemberAddress, NodeConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { decodeNodeSnapshot, encodeNodeSnapshot } from "./snapshot_format.ts";
import { ReadBatcher } from "./read_batcher.ts";
import { DeadlineQueue } from "../http/deadlines.ts";
import { WatchHub } from "./watch_hub.ts";
import { PROGRESS_EVERY_MS, withProgress } from "./progress.ts";
import { type NodeSample, RaftkvMetrics } from "./metrics.ts";

/** Most writes waiting for their entry to apply; beyond it writes get 429. */
export const MAX_PENDING_WRITES = 100_000;

/** What a node is built from; tests pass in-memory storage and transport. */
export interface NodeDeps {
  config: NodeConfig;
  storage: RaftStorage;
  transport: Transport;
  log: Logger;
  /** The wall clock stamped into entries for TTLs (only the leader's is ever used). */
  now?: () => number;
  /** Called when the node cannot go on safely (an fsync failed). Default: exit(1). */
  onFatal?: (error: unknown) => void;
  /** Seed for the core's election jitter. */
  seed?: number;
  /** Metrics this node records (GET /metrics); a private set when absent. */
  metrics?: RaftkvMetrics;
}

interface WriteWaiter {
  term: number;
  resolve: (result: ApplyResult) => void;
  reject: (error: Error) => void;
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
  readonly #now: () => number;
  readonly #onFatal: (error: unknown) => void;
  readonly #raft: Raft;
  #kv: KvStore;
  readonly #members = new Map<NodeId, MemberAddress>();
  readonly #writes = new Map<number, WriteWaiter>();
  /** The node's own write deadline, on one timer for all waiters. */
  readonly #writeDeadlines: DeadlineQueue;
  readonly #reads: ReadBatcher;
  readonly #watches: WatchHub;
  readonly #leases: LeaseDriver;
  #applied: number;
  #appliedTerm: number;
  #lastSnapshotIndex: number;
  #snapshotting = false;
  readonly #sendingSnapshot = new Set<NodeId>();
  #wake: (() => void) | null = null;
  #stopped = false;
  #loopDone: Promise<void> = Promise.resolve();
  #ticker: ReturnType<typeof setInterval> | undefined;
  #expiryProposedAtMs = 0;
  #lastSnapshotAtMs = Date.now();
  #lastCatchUpReportMs = 0;
  /** The newest hard state not yet handed to storage (only its commit index moved). */
  #unsavedHardState: HardState | null = null;
  /** Term and vote as last handed to storage. */
  #syncedTerm: number;
  #syncedVote: NodeId | null;
  /** True while a Ready is being persisted (between ready() and advance()). */
  #persisting = false;
  /** True while that Ready installs a received snapshot. */
  #installingSnapshot = false;
  readonly #lastContact = new Map<NodeId, number>();
  /** The leader last written to the log, to log each change once. */
  #loggedLeader: NodeId | null = null;
  readonly #pendingPromotions = new Set<NodeId>();
  #removed = false;
  #bookSaved: Promise<void> = Promise.resolve();

  private constructor(deps: NodeDeps, kv: KvStore, members: Map<NodeId, MemberAddress>) {
    const { config, storage } = deps;
    this.id = config.id;
    this.#config = config;
    this.#storage = storage;
    this.#transport = deps.transport;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#onFatal = deps.onFatal ?? ((e) => {
      this.#log.log("error", "fatal error (storage failure or broken invariant): exiting", {
        error: e instanceof Error ? e.stack ?? e.message : String(e),
      });
      Deno.exit(1);
    });
    this.#kv = kv;
    for (const [id, addr] of members) this.#members.set(id, addr);
    this.#members.set(config.id, { peerAddr: config.peerAddr, httpUrl: config.advertiseHttpUrl });
    const initial = storage.initialState().hardState;
    this.#syncedTerm = initial.term;
    this.#syncedVote = initial.vote;
    const snapshot = storage.snapshotMeta();
    this.#applied = snapshot.index;
    this.#appliedTerm = snapshot.term;
    this.#lastSnapshotIndex = snapshot.index;
    this.#raft = new Raft({
      id: config.id,
      log: storage,
      seed: deps.seed ?? (crypto.getRandomValues(new Uint32Array(1))[0] ?? 1),
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      applied: snapshot.index,
    });
    this.#writeDeadlines = new DeadlineQueue(config.writeTimeoutMs);
    this.#reads = new ReadBatcher({
      readIndex: (ctx, mode) => {
        this.#raft.readIndex(ctx, mode);
        this.#kick();
      },
      applied: () => this.#applied,
      timeoutMs: config.writeTimeoutMs,
    });
    this.#watches = new WatchHub(() => this.#kv);
    this.#leases = new LeaseDriver({
      propose: (command) => this.write(command, { idempotencyKey: null, signal: NEVER_ABORTED }),
      now: this.#now,
      kv: () => this.#kv,
      awaitReadable: (consistency, signal) => this.#awaitReadable(consistency, signal),
    });
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
    for (const [id, addr] of config.initialCluster) {
      members.set(id, mergeAddress(members.get(id), addr));
    }
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
    node.#saveBook();
    await node.#startIo();
    return node;
  }

  async #startIo(): Promise<void> {
    this.#transport.onMessage = (m) => this.#step(m);
    this.#transport.onSnapshot = (m, chunks) => this.#receiveSnapshot(m, chunks);
    this.#transport.onPeerHttpUrl = (id, url) => this.learnHttpUrl(id, url);
    this.#syncPeers();
    await this.#transport.start();
    this.#watches.attach(this.#kv);
    this.#ticker = setInterval(() => this.#tick(), this.#config.tickMs);
    this.#loopDone = this.#readyLoop();
    this.#kick();
  }

  // ---- the loop -------------------------------------------------------------

  #kick(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #step(m: Message): void {
    if (this.#stopped) return;
    this.#lastContact.set(m.from, Date.now());
    this.#raft.step(m);
    const lost = this.#raft.lostLog;
    if (lost !== null) {
      this.#stopped = true;
      this.#onFatal(
        new Error(
          `this node's log ends at index ${lost.lastIndex}, but leader ${m.from} counts it as ` +
            `holding index ${lost.acknowledged}: its data was lost (data directory wiped or ` +
            `truncated). Remove it (DELETE /v1/cluster/members/${this.id}) and add it again ` +
            `with an empty data directory and --join`,
        ),
      );
      return;
    }
    this.#progressWhilePersisting();
    this.#kick();
  }

  /**
   * While a Ready's fsync runs (called on each message and tick), the work that need
   * not wait for it goes on: messages that may leave before persistence (heartbeats,
   * read-index acks, commit updates, and appends of what was proposed since the last
   * call, as one batch), and the applying of entries that commit meanwhile.
   */
  #progressWhilePersisting(): void {
    if (!this.#persisting) return;
    this.#send(this.#raft.takeMessages());
    // Writes committed and reads confirmed meanwhile are answered now, not after the
    // fsync (unless a snapshot is being installed: the store is being replaced).
    if (this.#installingSnapshot) return;
    const { committedEntries, readStates } = this.#raft.takeApplicable();
    if (committedEntries.length > 0) {
      this.#apply(committedEntries);
      this.#raft.appliedEntries(committedEntries);
    }
    for (const rs of readStates) this.#reads.confirmed(rs.context, rs.index);
    if (committedEntries.length > 0 || readStates.length > 0) this.#reads.drain();
  }

  #tick(): void {
    this.#raft.tick();
    this.#progressWhilePersisting();
    this.#reads.expire();
    this.#maybeProposeExpiry();
    this.#leases.tick();
    this.#maybePromote();
    this.#reportCatchUp();
    this.#maybeSnapshot();
    this.#kick();
  }

  async #readyLoop(): Promise<void> {
    while (!this.#stopped) {
      if (!this.#raft.hasReady()) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const rd = this.#raft.ready();
      this.#persisting = true;
      this.#installingSnapshot = rd.snapshot !== null;
      try {
        await this.#handleReady(rd);
      } catch (e) {
        this.#stopped = true;
        this.#onFatal(e);
        return;
      } finally {
        this.#persisting = false;
        this.#installingSnapshot = false;
      }
      this.#raft.advance(rd);
      this.#afterAdvance(rd);
    }
  }

  async #handleReady(rd: Ready): Promise<void> {
    this.#send(rd.messages);
    if (rd.snapshot) await this.#installSnapshot(rd.snapshot);
    // Committed entries are already durable here (the core only hands out persisted
    // ones), so they are applied, and their writers answered, without waiting for the
    // fsync of this Ready's new entries.
    this.#apply(rd.committedEntries);
    for (const rs of rd.readStates) this.#reads.confirmed(rs.context, rs.index);
    this.#reads.drain();
    if (rd.hardState) this.#unsavedHardState = rd.hardState;
    const hs = this.#unsavedHardState;
    // A commit-only change waits for the next write instead of costing an fsync of its
    // own (the contract's step 2): under load that was every other fsync.
    const mustSync = rd.entries.length > 0 || rd.snapshot !== null ||
      (hs !== null && (hs.term !== this.#syncedTerm || hs.vote !== this.#syncedVote));
    if (mustSync) {
      const startedMs = performance.now();
      await this.#storage.save(hs, rd.entries);
      this.metrics.observePersist(rd.entries.length, (performance.now() - startedMs) / 1000);
      this.#unsavedHardState = null;
      if (hs !== null) {
        this.#syncedTerm = hs.term;
        this.#syncedVote = hs.vote;
      }
    }
    this.#send(rd.messagesAfterPersist);
  }

  #afterAdvance(rd: Ready): void {
    const { leader, role } = rd.softState;
    if (leader !== this.#loggedLeader) {
      // Elections are the first thing an operator looks for after an incident.
      this.#log.log(
        leader === null ? "warn" : "info",
        leader === null ? "leader lost" : "leader elected",
        {
          leader,
          term: rd.hardState?.term ?? this.#raft.basicStatus().term,
          role,
        },
      );
      this.#loggedLeader = leader;
    }
    this.metrics.observeLeader(leader);
    this.#reads.drain();
    // A lone voter would otherwise wait a full election timeout for nothing.
    if (rd.softState.leader === null && rd.softState.role === "follower") {
      const conf = this.#raft.status().conf;
      if (conf.voters.length === 1 && conf.voters[0] === this.id) this.#raft.campaign();
    }
    this.#maybeSnapshot();
  }

  #send(messages: Message[]): void {
    for (const m of messages) {
      if (m.type === MessageType.Snapshot) this.#sendSnapshot(m);
      else this.#transport.send(m);
    }
  }

  // ---- applying ---------------------------------------------------------------

  #apply(entries: Entry[]): void {
    for (const entry of entries) {
      let result: ApplyResult = { ok: true, value: null };
      if (entry.type === EntryType.ConfChange) {
        this.#applyConfChange(entry);
      } else {
        // Bad entries are refused inside apply (as results); a throw is a broken
        // invariant, and going on would let this replica's state drift: stop instead.
        result = this.#kv.apply(entry.index, entry.data);
      }
      this.#applied = entry.index;
      this.#appliedTerm = entry.term;
      const waiter = this.#writes.get(entry.index);
      if (waiter) {
        this.#writes.delete(entry.index);
        if (waiter.term === entry.term) waiter.resolve(result);
        else waiter.reject(notApplied("leadership changed before the write committed"));
      }
    }
  }

  #applyConfChange(entry: Entry): void {
    const cc = decodeConfChange(entry.data);
    if (cc === null) {
      // The leader validated it before proposing; every replica skips it alike.
      this.#log.log("error", "undecodable membership change skipped", { index: entry.index });
      return;
    }
    if (cc.type === "remove") {
      if (cc.nodeId !== this.id) this.#members.delete(cc.nodeId);
    } else if (cc.context !== "") {
      const addr = JSON.parse(cc.context) as MemberAddress;
      const incoming = { peerAddr: addr.peerAddr, httpUrl: addr.httpUrl ?? null };
      this.#members.set(cc.nodeId, mergeAddress(this.#members.get(cc.nodeId), incoming));
    }
    if (cc.type === "remove" && cc.nodeId === this.id) {
      this.#removed = true;
      this.#log.log("warn", "this node was removed from the cluster");
    }
    this.#log.log("info", "membership change applied", { ...cc, index: entry.index });
    this.#syncPeers();
    this.#saveBook();
  }

  /** Persists the address book beside the data so restarts and joins know every peer. */
  #saveBook(): void {
    const book: MemberBook = { removed: this.#removed, members: [...this.#members] };
    this.#bookSaved = this.#bookSaved.then(() => saveMemberBook(this.#config.dataDir, book))
      .catch((e) => this.#log.log("error", "could not save members.json", { error: String(e) }));
  }

  #syncPeers(): void {
    const peers = new Map<NodeId, string>();
    for (const [id, addr] of this.#members) if (id !== this.id) peers.set(id, addr.peerAddr);
    this.#transport.setPeers(peers);
  }

  // ---- snapshots --------------------------------------------------------------

  /** Snapshot policy: every N applied entries, and/or every T seconds with a change. */
  #maybeSnapshot(): void {
    if (this.#snapshotting || this.#applied <= this.#lastSnapshotIndex) return;
    const { snapshotEntries, snapshotIntervalMs } = this.#config;
    const byCount = snapshotEntries > 0 && this.#applied >= this.#nextSnapshotPoint();
    const byTime = snapshotIntervalMs > 0 &&
      Date.now() - this.#lastSnapshotAtMs >= snapshotIntervalMs;
    if (!byCount && !byTime) return;
    this.takeSnapshot().catch((e) =>
      this.#log.log("warn", "snapshot failed", {
        error: e instanceof Error ? e.message : String(e),
      })
    );
  }

  /**
   * The applied index at which the next snapshot by count is due: every
   * `--snapshot-entries` entries, at a phase set by this node's place among the members.
   * Members apply the same entries at nearly the same moment; at the same points they
   * would all spend a snapshot's CPU at once, and a majority stall together (measured
   * on one machine: most of the write tail latency).
   */
  #nextSnapshotPoint(): number {
    const every = this.#config.snapshotEntries;
    const ids = [...this.#members.keys()].sort();
    const offset = Math.floor(every * Math.max(0, ids.indexOf(this.id)) / Math.max(1, ids.length));
    return offset + (Math.floor((this.#lastSnapshotIndex - offset) / every) + 1) * every;
  }

  /** Snapshots the applied state now and compacts the log behind it. */
  async takeSnapshot(): Promise<{ index: number; term: number }> {
    if (this.#snapshotting) throw new RaftkvError("conflict", "a snapshot is already being taken");
    this.#snapshotting = true;
    const startedMs = performance.now();
    try {
      const conf = this.#raft.status().conf;
      const kvSnapshot = this.#kv.snapshot(); // copy-on-write: applies continue meanwhile
      const meta = { index: kvSnapshot.index, term: this.#termAt(kvSnapshot.index), conf };
      if (meta.index <= this.#lastSnapshotIndex) return meta;
      const header = { version: 1 as const, members: [...this.#members] };
      await this.#storage.writeSnapshot(meta, encodeNodeSnapshot(header, kvSnapshot.chunks));
      await this.#storage.compact(meta.index);
      this.#lastSnapshotIndex = meta.index;
      this.#lastSnapshotAtMs = Date.now();
      this.metrics.observeSnapshot((performance.now() - startedMs) / 1000);
      this.#log.log("info", "snapshot taken", { index: meta.index, term: meta.term });
      return meta;
    } finally {
      this.#snapshotting = false;
    }
  }

  #termAt(index: number): number {
    if (index === this.#applied) return this.#appliedTerm;
    const term = this.#storage.term(index);
    if (term === undefined) throw new Error(`no term known for applied index ${index}`);
    return term;
  }

  #sendSnapshot(m: SnapshotMessage): void {
    if (this.#sendingSnapshot.has(m.to)) return;
    const opened = this.#storage.openSnapshot();
    if (!opened) {
      this.#raft.reportSnapshot(m.to, false);
      return;
    }
    this.#sendingSnapshot.add(m.to);
    const message: SnapshotMessage = { ...m, snapshot: opened.meta };
    const fields = { to: m.to, index: opened.meta.index };
    this.#log.log("info", "sending snapshot", fields);
    const chunks = withProgress(opened.chunks(), this.#log, "snapshot transfer out", fields);
    this.#transport.sendSnapshot(message, chunks).then(
      () => this.#raft.reportSnapshot(m.to, true),
      (e) => {
        this.#log.log("warn", "snapshot send failed", { to: m.to, error: String(e) });
        this.#raft.reportSnapshot(m.to, false);
      },
    ).finally(() => {
      this.#sendingSnapshot.delete(m.to);
      this.#kick();
    });
  }

  async #receiveSnapshot(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (m.snapshot.index <= this.#applied) {
      for await (const _ of chunks) { /* already have it: drain */ }
    } else {
      const fields = { from: m.from, index: m.snapshot.index };
      await this.#storage.writeSnapshot(
        m.snapshot,
        withProgress(chunks, this.#log, "snapshot transfer in", fields),
      );
    }
    // Stepped after the sender is acked, once the bytes are durable here.
    queueMicrotask(() => this.#step(m));
  }

  async #installSnapshot(meta: SnapshotMeta): Promise<void> {
    // Storage makes a received snapshot current (and readable) once it is applied.
    await this.#storage.applySnapshot(meta);
    const opened = this.#storage.openSnapshot();
    if (!opened || opened.meta.index !== meta.index) {
      throw new Error(`snapshot ${meta.index} was applied but cannot be read back`);
    }
    const decoded = await decodeNodeSnapshot(opened.chunks());
    this.#kv = await KvStore.restore(decoded.kvChunks);
    for (const [id, addr] of decoded.header.members) {
      this.#members.set(id, mergeAddress(this.#members.get(id), addr));
    }
    this.#syncPeers();
    this.#saveBook();
    this.#watches.attach(this.#kv);
    this.#applied = opened.meta.index;
    this.#appliedTerm = opened.meta.term;
    this.#lastSnapshotIndex = opened.meta.index;
    this.#log.log("info", "snapshot installed", { index: meta.index });
  }

  // ---- TTL ----------------------------------------------------------------------

  /** The leader turns due expiries into log entries so every replica expires alike. */
  #maybeProposeExpiry(): void {
    const due = this.#kv.nextExpiryMs();
    const now = this.#now();
    if (due === null || due > now || this.#raft.basicStatus().role !== "leader") return;
    if (now - this.#expiryProposedAtMs < this.#config.tickMs * 5) return;
    this.#expiryProposedAtMs = now;
    const data = encodeEnvelope({ command: { op: "expire" }, idempotencyKey: null, nowMs: now });
    this.#raft.propose(data);
  }

  // ---- NodeApi ------------------------------------------------------------------

  /** Proposes a change and resolves once it is applied here. */
  write(
    command: KvCommand,
    options: { idempotencyKey: string | null; signal: AbortSignal },
  ): Promise<ApplyResult> {
    if (this.#stopped) {
      this.metrics.observeProposal(false);
      return Promise.reject(notApplied("the node is shutting down"));
    }
    if (this.#removed) {
      this.metrics.observeProposal(false);
      return Promise.reject(removedMemberError(this.id));
    }
    if (this.#writes.size >= MAX_PENDING_WRITES) {
      this.metrics.observeProposal(false);
      return Promise.reject(new RaftkvError("too_many_requests", "too many writes in flight", 1));
    }
    const data = encodeEnvelope({
      command,
      idempotencyKey: options.idempotencyKey,
      nowMs: this.#now(),
    });
    const proposed = this.#raft.propose(data);
    this.metrics.observeProposal(proposed.ok);
    if (!proposed.ok) return Promise.reject(refusal(proposed.reason, proposed.leader));
    this.#kick();
    return this.#awaitApplied(proposed.index, proposed.term, options.signal);
  }

  /** Resolves with the apply result once the entry at (index, term) is applied here. */
  #awaitApplied(index: number, term: number, signal: AbortSignal): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      const onAbort = () => this.#giveUpWrite(index, waiter);
      const settle = () => {
        deadline.cancel();
        signal.removeEventListener("abort", onAbort);
      };
      const waiter: WriteWaiter = {
        term,
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      };
      // An older waiter at this index belongs to an entry this leader's log replaced,
      // which therefore never committed.
      this.#writes.get(index)?.reject(notApplied("leadership changed before the write committed"));
      this.#writes.set(index, waiter);
      const deadline = this.#writeDeadlines.add(onAbort);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #giveUpWrite(index: number, waiter: WriteWaiter): void {
    if (this.#writes.get(index) !== waiter) return;
    this.#writes.delete(index);
    waiter.reject(
      new RaftkvError(
        "outcome_unknown",
        `the change was proposed at index ${index} but not applied before its deadline; it may or may not take effect`,
      ),
    );
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
    if (this.#removed) throw removedMemberError(this.id);
    return this.#watches.watch(prefix, fromRevision, signal);
  }

  /** Renews a lease through the next tick's keepalive entry (see `lease_driver.ts`). */
  keepalive(id: string, signal: AbortSignal): Promise<LeaseView | null> {
    if (this.#removed) return Promise.reject(removedMemberError(this.id));
    return this.#leases.keepalive(id, signal);
  }

  /** One lease with its attached keys. */
  lease(id: string, consistency: Consistency, signal: AbortSignal) {
    return this.#leases.lease(id, consistency, signal);
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
    return this.#kv.readTxn(txn);
  }

  /** The node's view of the cluster. */
  status(): NodeStatus {
    const s = this.#raft.basicStatus();
    const leaderAddr = s.leader === null ? undefined : this.#members.get(s.leader);
    return {
      id: this.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      leaderHttpUrl: s.leader === this.id
        ? this.#config.advertiseHttpUrl
        : leaderAddr?.httpUrl ?? null,
      commitIndex: s.commit,
      appliedIndex: this.#applied,
      // commit > 0: a joiner hears a leader before it holds any of the log.
      ready: !this.#removed && s.leader !== null && s.commit > 0 && this.#applied >= s.commit,
      removed: this.#removed,
    };
  }

  async #awaitReadable(consistency: Consistency, signal: AbortSignal): Promise<void> {
    if (this.#removed) throw removedMemberError(this.id);
    if (consistency === "stale") return;
    if (this.#raft.basicStatus().leader === null) {
      throw new RaftkvError("unavailable", "no leader is known: cannot confirm a fresh read", 1);
    }
    await this.#reads.read(consistency === "lease" ? "lease" : "safe", signal);
  }

  // ---- AdminApi ---------------------------------------------------------------------

  /** Membership and replication progress as this node knows it. */
  cluster(): ClusterInfo {
    const s = this.#raft.status();
    const now = Date.now();
    const member = (id: NodeId, role: "voter" | "learner"): MemberInfo => {
      const p = s.progress.get(id);
      const addr = this.#members.get(id);
      const self = id === this.id;
      const contact = this.#lastContact.get(id);
      return {
        id,
        role,
        peerAddr: addr?.peerAddr ?? null,
        httpUrl: addr?.httpUrl ?? null,
        matchIndex: p?.match ?? (self ? s.lastIndex : null),
        lag: p ? Math.max(0, s.lastIndex - p.match) : (self ? 0 : null),
        lastContactMs: self ? 0 : contact === undefined ? null : now - contact,
        // The core's recentActive resets each timeout, so it flickers.
        reachable: s.role !== "leader" ? null : self || this.#heardRecently(contact, now),
      };
    };
    return {
      clusterId: this.#config.clusterId,
      self: this.id,
      leader: s.leader,
      term: s.term,
      commitIndex: s.commit,
      members: [
        ...s.conf.voters.map((id) => member(id, "voter")),
        ...s.conf.learners.map((id) => member(id, "learner")),
      ],
    };
  }

  /** Adds a learner (and, for role voter, promotes it once caught up). */
  async addMember(request: AddMemberRequest, signal: AbortSignal): Promise<MemberInfo> {
    this.#requireLeader();
    const conf = this.#raft.status().conf;
    if (conf.voters.includes(request.id) || conf.learners.includes(request.id)) {
      throw new RaftkvError("conflict", `${request.id} is already a member`);
    }
    const context = JSON.stringify({ peerAddr: request.peerAddr, httpUrl: request.httpUrl });
    await this.#changeConf({ type: "addLearner", nodeId: request.id, context }, signal);
    if (request.role === "voter") this.#pendingPromotions.add(request.id);
    // The core adopts the change at its next advance(), which may be a moment after
    // this write resolves; until then the member is described from the request.
    return this.cluster().members.find((m) => m.id === request.id) ?? {
      id: request.id,
      role: "learner",
      peerAddr: request.peerAddr,
      httpUrl: request.httpUrl,
      matchIndex: null,
      lag: null,
      lastContactMs: null,
      reachable: null,
    };
  }

  /** Promotes a caught-up learner to voter. */
  async promote(id: string, signal: AbortSignal): Promise<void> {
    this.#requireLeader();
    const s = this.#raft.status();
    if (!s.conf.learners.includes(id)) {
      throw new RaftkvError(
        s.conf.voters.includes(id) ? "conflict" : "not_found",
        s.conf.voters.includes(id) ? `${id} is already a voter` : `${id} is not a learner`,
      );
    }
    const notReady = this.#whyNotPromotable(id, s);
    if (notReady !== null) {
      throw new RaftkvError("conflict", `${notReady}; retry when it has caught up`);
    }
    this.#pendingPromotions.delete(id);
    await this.#changeConf({ type: "promote", nodeId: id, context: "" }, signal);
  }

  /** Removes a member; a leader removing itself steps down once it commits. */
  async removeMember(id: string, signal: AbortSignal): Promise<void> {
    this.#requireLeader();
    const conf = this.#raft.status().conf;
    if (!conf.voters.includes(id) && !conf.learners.includes(id)) {
      throw new RaftkvError("not_found", `${id} is not a member`);
    }
    if (conf.voters.length === 1 && conf.voters[0] === id) {
      throw new RaftkvError(
        "conflict",
        `${id} is the last voter; removing it would end the cluster`,
      );
    }
    this.#pendingPromotions.delete(id);
    await this.#changeConf({ type: "remove", nodeId: id, context: "" }, signal);
  }

  /** Hands leadership to `to` and waits until it leads. */
  async transferLeader(to: string, signal: AbortSignal): Promise<void> {
    this.#requireLeader();
    if (to === this.id) return;
    if (!this.#raft.status().conf.voters.includes(to)) {
      throw new RaftkvError("bad_request", `${to} is not a voter`);
    }
    if (!this.#raft.transferLeader(to)) {
      throw new RaftkvError("conflict", `leadership cannot move to ${to} now`);
    }
    this.#kick();
    const deadline = Date.now() + 2 * this.#electionTimeoutMs;
    while (this.#raft.status().leader !== to) {
      if (signal.aborted || Date.now() > deadline) {
        throw new RaftkvError("unavailable", `${to} did not take over in time`, 1);
      }
      await new Promise((r) => setTimeout(r, this.#config.tickMs / 2));
    }
  }

  /** A consistent backup: waits for a linearizable read point, then streams the state. */
  async backup(signal: AbortSignal): Promise<{ index: number; chunks: AsyncIterable<Uint8Array> }> {
    await this.#awaitReadable("linearizable", signal);
    const kvSnapshot = this.#kv.snapshot(); // copy-on-write: writes continue meanwhile
    const header = { version: 1 as const, members: [...this.#members] };
    return { index: kvSnapshot.index, chunks: encodeNodeSnapshot(header, kvSnapshot.chunks) };
  }

  /** Takes a snapshot now (admin endpoint). */
  async snapshot(): Promise<{ index: number; term: number }> {
    const meta = await this.takeSnapshot();
    return { index: meta.index, term: meta.term };
  }

  #requireLeader(): void {
    const s = this.#raft.status();
    if (s.role !== "leader") {
      throw new RaftkvError(
        "unavailable",
        s.leader === null ? "no leader is known" : `not the leader (${s.leader} is)`,
        1,
      );
    }
  }

  async #changeConf(cc: ConfChange, signal: AbortSignal): Promise<void> {
    const proposed = this.#raft.proposeConfChange(cc);
    if (!proposed.ok) {
      if (proposed.reason === "conf_change_pending") {
        throw new RaftkvError(
          "conflict",
          "another membership change is in progress; retry after it",
        );
      }
      throw refusal(proposed.reason, proposed.leader);
    }
    this.#kick();
    await this.#awaitApplied(proposed.index, proposed.term, signal);
  }

  /** The leader logs, every few seconds, how far behind each lagging member is. */
  #reportCatchUp(): void {
    const now = Date.now();
    if (now - this.#lastCatchUpReportMs < PROGRESS_EVERY_MS) return;
    const s = this.#raft.status();
    if (s.role !== "leader") return;
    this.#lastCatchUpReportMs = now;
    for (const [id, p] of s.progress) {
      const lag = s.lastIndex - p.match;
      if (id === this.id || lag <= this.#config.promoteMaxLag) continue;
      this.#log.log("info", "member catching up", {
        id,
        learner: p.isLearner,
        match: p.match,
        lag,
        state: p.state,
      });
    }
  }

  /** One election timeout with this node's timings, in milliseconds. */
  get #electionTimeoutMs(): number {
    return this.#config.tickMs * this.#config.electionTicks;
  }

  /** Whether a member last heard from at `contact` was heard within an election timeout. */
  #heardRecently(contact: number | undefined, now: number): boolean {
    return contact !== undefined && now - contact < this.#electionTimeoutMs;
  }

  /**
   * Why learner `id` may not become a voter yet, or null when it may: it must have
   * acknowledged entries, answered within an election timeout, and be within
   * `--promote-max-lag`. Lag alone is not enough: in a young log a learner that was
   * never reached is "close", and promoting it adds a dead voter (with one voter, a
   * cluster that can no longer commit).
   */
  #whyNotPromotable(id: NodeId, s: ReturnType<Raft["status"]>): string | null {
    const match = s.progress.get(id)?.match ?? 0;
    const contact = this.#lastContact.get(id);
    const now = Date.now();
    if (match === 0 || contact === undefined) return `${id} has not replicated anything yet`;
    if (!this.#heardRecently(contact, now)) {
      return `${id} has not been heard from for ${now - contact} ms`;
    }
    const lag = s.lastIndex - match;
    if (lag > this.#config.promoteMaxLag) {
      return `${id} is ${lag} entries behind (promotion allows ${this.#config.promoteMaxLag})`;
    }
    return null;
  }

  /** Promotes learners added as voters once they are within the allowed lag. */
  #maybePromote(): void {
    if (this.#pendingPromotions.size === 0) return;
    const s = this.#raft.status();
    if (s.role !== "leader") return;
    for (const id of this.#pendingPromotions) {
      if (!s.conf.learners.includes(id)) {
        this.#pendingPromotions.delete(id);
        continue;
      }
      if (this.#whyNotPromotable(id, s) !== null) continue;
      const proposed = this.#raft.proposeConfChange({ type: "promote", nodeId: id, context: "" });
      if (proposed.ok) {
        this.#pendingPromotions.delete(id);
        const lag = s.lastIndex - (s.progress.get(id)?.match ?? 0);
        this.#log.log("info", "promoting caught-up learner", { id, lag });
      }
      return; // one change at a time
    }
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
      leases: this.#kv.leaseCount,
      keepaliveEntries: this.#leases.entriesProposed,
    };
  }

  // ---- shutdown -------------------------------------------------------------------

  /** Hands leadership away if leader, stops ticking and the loop, closes I/O. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    await this.#handOffLeadership();
    this.#stopped = true;
    clearInterval(this.#ticker);
    this.#kick();
    await this.#loopDone;
    this.#reads.failAll(notApplied("the node is shutting down"));
    this.#leases.close(notApplied("the node is shutting down"));
    for (const waiter of this.#writes.values()) {
      waiter.reject(
        new RaftkvError("outcome_unknown", "the node shut down before the write applied"),
      );
    }
    this.#writes.clear();
    this.#watches.closeAll();
    // So a restart replays everything this node knew committed.
    if (this.#unsavedHardState !== null) {
      await this.#storage.save(this.#unsavedHardState, []).catch((e) =>
        this.#log.log("warn", "could not save the last commit index", { error: String(e) })
      );
    }
    await this.#bookSaved;
    await this.#transport.close();
    await this.#storage.close();
  }

  async #handOffLeadership(): Promise<void> {
    const s = this.#raft.status();
    if (s.role !== "leader") return;
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const [id, p] of s.progress) {
      if (id !== this.id && !p.isLearner && p.match > bestMatch) {
        best = id;
        bestMatch = p.match;
      }
    }
    if (best === null || !this.#raft.transferLeader(best)) return;
    this.#log.log("info", "handing leadership to the most caught-up voter", { to: best });
    this.#kick();
    const deadline = Date.now() + this.#electionTimeoutMs;
    while (Date.now() < deadline && this.#raft.status().role === "leader") {
      await new Promise((r) => setTimeout(r, this.#config.tickMs));
    }
    const handedOff = this.#raft.status().role !== "leader";
    this.#log.log(
      handedOff ? "info" : "warn",
      handedOff ? "leadership handed off" : "leadership hand-off timed out",
      {
        to: best,
      },
    );
  }

  /**
   * Records the HTTP URL a member announced in its peer handshake, when this node has
   * none for it (a URL from flags or the membership change is kept), so followers can
   * forward to a leader started without `@http://…` in `--initial-cluster`.
   */
  learnHttpUrl(id: NodeId, httpUrl: string): void {
    const addr = this.#members.get(id);
    if (id === this.id || addr === undefined || addr.httpUrl !== null) return;
    this.#members.set(id, { peerAddr: addr.peerAddr, httpUrl });
    this.#log.log("info", "learned a member's HTTP URL from its handshake", { id, httpUrl });
    this.#saveBook();
  }

  /**
   * Learns addresses of members this node has not heard of (a joiner gets them from the
   * cluster it joins, before it has any log to learn them from).
   */
  rememberMembers(members: Iterable<[NodeId, MemberAddress]>): void {
    let changed = false;
    for (const [id, addr] of members) {
      if (id === this.id || this.#members.has(id)) continue;
      this.#members.set(id, addr);
      changed = true;
    }
    if (!changed) return;
    this.#syncPeers();
    this.#saveBook();
  }
}

/** The signal of writes the node makes for itself: their deadline is the node's own. */
const NEVER_ABORTED = new AbortController().signal;

function notApplied(message: string): RaftkvError {
  return new RaftkvError("unavailable", `${message}; the write was not applied`, 1);
}

function refusal(reason: string, leader: NodeId | null): RaftkvError {
  switch (reason) {
    case "uncommitted_limit":
      return new RaftkvError("too_many_requests", "too many uncommitted writes; retry shortly", 1);
    case "invalid_conf_change":
      return new RaftkvError(
        "bad_request",
        "that membership change is not valid for the current configuration",
      );
    case "transfer_in_progress":
      return new RaftkvError("unavailable", "leadership is being transferred; retry shortly", 1);
    default:
      return new RaftkvError(
        "unavailable",
        leader === null ? "no leader is known" : `this node is not the leader (${leader} is)`,
        1,
      );
  }
}
