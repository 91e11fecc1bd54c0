/**
 * One simulated server running the shipped node: a real {@link RaftkvNode} (Ready loop,
 * apply step, membership, snapshots, KV store) over the simulator's disk
 * ({@link SimStorage}), network ({@link SimTransport}) and virtual clock. The process
 * can crash (unsynced saves are lost or torn), restart from its disk, or come back with
 * its data directory wiped. What it saves, sends and applies goes to the checker.
 *
 * @module
 */

import { RaftkvNode } from "../../src/node/node.ts";
import { bootstrapEntries } from "../../src/node/bootstrap.ts";
import type { MemberAddress } from "../../src/node/config.ts";
import { silentLogger } from "../../src/node/log.ts";
import type { MemberBook } from "../../src/node/member_book.ts";
import type { Scheduler } from "../../src/node/clock.ts";
import { decodeConfChange } from "../../src/raft/conf_change_codec.ts";
import { decodeEnvelope } from "../../src/kv/codec.ts";
import type { KvEnvelope } from "../../src/kv/types.ts";
import {
  type ConfChange,
  type Entry,
  EntryType,
  type HardState,
  type NodeId,
} from "../../src/raft/messages.ts";
import type { Core } from "./core.ts";
import { chainDigest, entryFingerprint, InvariantViolation } from "./invariants.ts";
import type { InvariantChecker } from "./invariants.ts";
import { SimStorage } from "./sim_storage.ts";
import { SimTransport, type SimWire } from "./sim_transport.ts";
import type { Trace } from "./trace.ts";
import type { Prng } from "./prng.ts";
import { formatEntries } from "./trace.ts";
import { testNodeConfig } from "../node/test_config.ts";

/** Per-host disk behaviour chosen by the run's seed. */
export interface HostOptions {
  /** 0 syncs at once; otherwise each save takes [min, max] ms to fsync. */
  fsyncMinMs: number;
  fsyncMaxMs: number;
  /** A crash keeps a prefix of the unsynced saves, the last one maybe torn. */
  tornWrites: boolean;
}

/** Node settings every simulated host shares (drawn per run). */
export interface HostNodeSettings {
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEntries: number;
  trailingEntries: number;
  promoteMaxLag: number;
  /** The node's write (and read) deadline, in virtual ms. */
  writeTimeoutMs: number;
}

/** What a host needs from the cluster around it. */
export interface HostEnv {
  readonly inv: InvariantChecker;
  readonly trace: Trace;
  readonly core: Core;
  readonly settings: HostNodeSettings;
  nowMs(): number;
  stepNo(): number;
  wire: SimWire;
  /** Calls `fire` at `atMs` while incarnation `incarnation` of `host` runs (a node timer). */
  scheduleTimer(host: SimHost, incarnation: number, atMs: number, fire: () => void): void;
  /** Asks for `host.fsyncDone(incarnation)` at `atMs`. */
  scheduleFsync(host: SimHost, incarnation: number, atMs: number): void;
  /** The node called its fatal handler. */
  onFatal(host: SimHost, incarnation: number, error: unknown): void;
  /** A membership change applied on `host`. */
  onConfChange(host: SimHost, cc: ConfChange): void;
  /** `host`, leading, moved its commit index to `index` (an entry of term `term`). */
  onLeaderCommit(host: SimHost, index: number, term: number): void;
}

/** The address a simulated member advertises. */
export function simAddress(id: NodeId): MemberAddress {
  return { peerAddr: `sim:${id}`, httpUrl: `http://${id}.sim` };
}

/** A simulated server. Its disk and member book survive crashes; the rest does not. */
export class SimHost {
  readonly id: NodeId;
  readonly options: HostOptions;
  readonly #env: HostEnv;
  /** The founding members (null for a host that joins later). */
  readonly #founding: Map<NodeId, MemberAddress> | null;
  #storage: SimStorage;
  #book: MemberBook | null = null;
  #node: RaftkvNode | null = null;
  #transport: SimTransport | null = null;
  #tick: (() => void) | null = null;
  #incarnation = 0;
  /** The running incarnation's liveness: callbacks of a dead process check it. */
  #life = { alive: false };
  readonly #prng: Prng;
  #seed: number;
  /** Chain digest of what this replica applied, and through which index. */
  #digest = 0;
  #applied = 0;
  /** Times the data directory was wiped; each wipe is a new voter identity. */
  #wipes = 0;
  /** Set when this incarnation started from a wiped data directory. */
  #wiped = false;
  /** The voters before the last membership change this host applied (commit checks). */
  votersBeforeChange: NodeId[] | null = null;
  /** Set when a heartbeat showed a wiped host its data is lost: it must have stopped. */
  mustHaveStopped = false;
  /** Set when this incarnation's node gave up (fatal handler); it serves nothing. */
  #halted = false;
  #leaderTerm = 0;
  /** The commit index this host reported while leading `#leaderTerm`. */
  #leaderCommit = 0;
  /** Set once the host ever received entries or a snapshot (sticky across wipes). */
  #reached = false;

  /** A founding member (`founding` lists all of them) or, with null, a joiner. */
  constructor(
    id: NodeId,
    founding: Map<NodeId, MemberAddress> | null,
    options: HostOptions,
    prng: Prng,
    env: HostEnv,
  ) {
    this.id = id;
    this.options = options;
    this.#env = env;
    this.#founding = founding;
    this.#prng = prng;
    this.#seed = prng.nextUint32();
    this.#storage = this.#freshDisk();
  }

  #freshDisk(): SimStorage {
    const storage = new SimStorage({ trailingEntries: this.#env.settings.trailingEntries });
    if (this.#founding !== null) {
      const { hardState, entries } = bootstrapEntries(this.#founding);
      this.#env.inv.observeLogAppend(this.id, entries, 0);
      void storage.save(hardState, entries);
      storage.sync();
    }
    storage.observer = {
      saving: (entries, prevTerm, hs) => this.#saving(storage, entries, prevTerm, hs),
      fsyncRequested: () => this.#fsyncRequested(storage),
    };
    return storage;
  }

  /** True while the process runs (started, not crashed, not halted by a fatal error). */
  get up(): boolean {
    return this.#node !== null && !this.#halted;
  }

  /** True while a process exists, halted or not. */
  get running(): boolean {
    return this.#node !== null;
  }

  /** The running node; throws when down. */
  get node(): RaftkvNode {
    if (this.#node === null) throw new Error(`${this.id} is down`);
    return this.#node;
  }

  /** Bumped on every start: stale fsyncs compare against it. */
  get incarnation(): number {
    return this.#incarnation;
  }

  /** This replica's applied index and state digest. */
  get applied(): { index: number; digest: number } {
    return { index: this.#applied, digest: this.#digest };
  }

  /** True when this incarnation came up from a wiped data directory. */
  get wiped(): boolean {
    return this.#wiped;
  }

  /** The voter identity used for vote checks (a wiped disk forgot its votes). */
  get voterKey(): string {
    return this.#wipes === 0 ? this.id : `${this.id}~wipe${this.#wipes}`;
  }

  /** True once the host ever received entries or a snapshot from a leader. */
  get everReached(): boolean {
    return this.#reached;
  }

  /** True while its disk holds a save waiting for its fsync. */
  get persisting(): boolean {
    return this.#storage.pendingSaves() > 0;
  }

  /** The incarnation the lease checker last looked at. */
  leaseCheckedIncarnation = -1;
  /** A lease may have come or gone (grant, revoke, expiry, install) since the checker looked. */
  leaseEvents = false;
  /** Stamps (leader clock) of the `expire` entries applied since the lease checker looked. */
  readonly expiredAt: number[] = [];
  /** A snapshot was installed since the lease checker looked. */
  installedSinceCheck = false;

  /** The member book says this node was removed: it refuses to start. */
  get removedForGood(): boolean {
    return this.#book?.removed === true;
  }

  /** The transport of the running incarnation (null when down). */
  get transport(): SimTransport | null {
    return this.#transport;
  }

  /** The index of this host's durable snapshot. */
  snapshotIndex(): number {
    return this.#storage.snapshotMeta().index;
  }

  /** The term at `index` in this host's durable log (what survives a crash now). */
  durableTerm(index: number): number | undefined {
    return this.#storage.term(index);
  }

  /** The last index of the log this host can see (durable or being synced). */
  visibleLastIndex(): number {
    return this.#storage.visibleLastIndex();
  }

  /** Starts (or restarts) the process from its disk. */
  async start(): Promise<void> {
    if (this.#node !== null || this.removedForGood) return;
    const incarnation = ++this.#incarnation;
    const life = { alive: true };
    this.#life = life;
    const env = this.#env;
    const s = env.settings;
    const snap = this.#storage.snapshotMeta();
    this.#applied = snap.index;
    const digest = snap.index === 0 ? 0 : env.inv.digestAt(snap.index);
    if (digest === undefined) {
      throw new InvariantViolation("host-contract", `${this.id} restarts from an unknown snapshot`);
    }
    this.#digest = digest;
    this.#halted = false;
    this.mustHaveStopped = false;
    this.#leaderTerm = 0;
    const transport = new SimTransport(this.id, env.wire);
    this.#transport = transport;
    const scheduler: Scheduler = {
      every: (_ms, fn) => {
        this.#tick = fn;
        return { cancel: () => (this.#tick = null) };
      },
    };
    const storage = this.#storage;
    const config = testNodeConfig({
      id: this.id,
      peerAddr: simAddress(this.id).peerAddr,
      httpAddr: `${this.id}.sim:80`,
      advertiseHttpUrl: simAddress(this.id).httpUrl ?? "",
      dataDir: `/sim/${this.id}`,
      initialCluster: this.#founding ?? new Map(),
      tickMs: s.tickMs,
      electionTicks: s.electionTicks,
      heartbeatTicks: s.heartbeatTicks,
      snapshotEntries: s.snapshotEntries,
      snapshotTrailingEntries: s.trailingEntries,
      // Write (and read) deadlines run on virtual time, through the timers below.
      writeTimeoutMs: s.writeTimeoutMs,
      promoteMaxLag: s.promoteMaxLag,
    });
    this.#note(() =>
      `start #${incarnation} from snapshot ${snap.index}, last ${storage.lastIndex()}`
    );
    this.#node = await RaftkvNode.start({
      config,
      storage,
      transport,
      log: silentLogger,
      now: () => env.nowMs(),
      monotonicMs: () => env.nowMs(),
      scheduler,
      timers: {
        after: (delayMs, fire) => {
          env.scheduleTimer(this, incarnation, env.nowMs() + delayMs, () => {
            if (life.alive) fire();
          });
          return { hold: () => {} }; // virtual timers hold no process open
        },
      },
      saveMemberBook: (book) => {
        if (life.alive) this.#book = structuredClone(book);
        return Promise.resolve();
      },
      loadMemberBook: () => Promise.resolve(this.#book && structuredClone(this.#book)),
      newRaft: (c) => env.core.newRaft(c),
      onFatal: (e) => {
        if (!life.alive) return;
        this.#halted = true;
        this.#transport?.close(); // the process exits
        env.onFatal(this, incarnation, e);
      },
      seed: (this.#seed + incarnation * 0x9e3779b1) >>> 0,
      tap: {
        applied: (entries) => {
          if (life.alive) this.#observeApplied(entries);
        },
        installed: (meta) => {
          if (!life.alive) return;
          env.inv.observeSnapshot(this.id, meta.index, meta.term);
          const d = env.inv.digestAt(meta.index);
          if (d === undefined) {
            throw new InvariantViolation(
              "host-contract",
              `${this.id} installed unknown ${meta.index}`,
            );
          }
          this.#digest = d;
          this.#applied = meta.index;
          this.installedSinceCheck = true;
          this.leaseEvents = true;
          this.#reached = true;
          this.#note(() => `installed snapshot ${meta.index}@${meta.term}`);
        },
      },
    });
  }

  /** One tick of the running node's clock. */
  tick(): void {
    if (this.up) this.#tick?.();
  }

  /** The in-flight saves are durable now (ignored if the process died meanwhile). */
  fsyncDone(incarnation: number): void {
    if (incarnation !== this.#incarnation || this.#node === null) return;
    this.#storage.sync();
  }

  /**
   * Kills the process: its node is dropped mid-flight (no graceful stop), unsynced saves
   * are lost (or, with torn writes, a prefix survives), clients waiting on it never hear.
   */
  crash(keep: number, tornLast: boolean): void {
    if (this.#node === null) return;
    this.#life.alive = false;
    const pending = this.#storage.pendingSaves();
    this.#transport?.close();
    this.#transport = null;
    this.#tick = null;
    this.#node = null;
    this.#halted = false;
    this.#leaveLeadership();
    const k = Math.min(keep, pending);
    this.#storage = this.#rewire(this.#storage.crashInto(k, this.options.tornWrites && tornLast));
    this.#note(() => `CRASH with ${pending} unsynced saves (kept ${k}${tornLast ? ", torn" : ""})`);
  }

  /** Replaces the data directory with an empty one (the process must be down). */
  wipe(): void {
    if (this.#node !== null) throw new Error(`${this.id} must be down to be wiped`);
    this.#wipes++;
    this.#wiped = true;
    this.#book = null;
    this.#storage = this.#freshDisk();
    this.#note("WIPED data directory");
  }

  #rewire(storage: SimStorage): SimStorage {
    storage.observer = {
      saving: (entries, prevTerm, hs) => this.#saving(storage, entries, prevTerm, hs),
      fsyncRequested: () => this.#fsyncRequested(storage),
    };
    return storage;
  }

  #fsyncRequested(storage: SimStorage): void {
    if (storage !== this.#storage) return;
    if (this.options.fsyncMaxMs === 0) {
      storage.sync();
      return;
    }
    const delay = this.#prng.range(this.options.fsyncMinMs, this.options.fsyncMaxMs);
    this.#env.scheduleFsync(this, this.#incarnation, this.#env.nowMs() + delay);
  }

  #saving(storage: SimStorage, entries: readonly Entry[], prevTerm: number, hs: HardState | null) {
    if (storage !== this.#storage) return;
    const first = entries[0] as Entry;
    if (prevTerm < 0) {
      throw new InvariantViolation(
        "log-matching",
        `${this.id} saves from ${first.index} but holds no entry at ${first.index - 1}`,
      );
    }
    const inv = this.#env.inv;
    inv.observeLogAppend(this.id, entries, prevTerm);
    const last = entries[entries.length - 1] as Entry;
    this.#reached = true;
    this.#note(() => `save ${formatEntries(entries)}${hs ? ` hs(t${hs.term} c${hs.commit})` : ""}`);
    // A new leader's first own entry: everything before it was handed to storage first.
    const st = this.#node?.status();
    if (st === undefined || st.role !== "leader" || last.term !== st.term) return;
    if (this.#leaderTerm === st.term) return;
    this.#leaderTerm = st.term;
    this.#leaderCommit = st.commitIndex;
    inv.observeLeader(this.id, st.term);
    const termAt = (i: number) => storage.visibleTerm(i);
    inv.checkLeaderCompleteness(this.id, st.term, storage.firstIndex(), termAt);
    inv.setLeaderView(this.id, {
      term: st.term,
      firstIndex: () => storage.firstIndex(),
      termAt,
    });
  }

  /**
   * Called after each event: a deposed leader's view is no longer checked, and a leader
   * may move its commit index only onto an entry of its own term (Raft §5.4.2: entries
   * of earlier terms commit only indirectly, never by counting their replicas).
   */
  observeRole(): void {
    if (this.#leaderTerm === 0) return;
    const st = this.#node?.status();
    if (st === undefined || st.role !== "leader" || st.term !== this.#leaderTerm) {
      this.#leaveLeadership();
      return;
    }
    if (st.commitIndex > this.#leaderCommit) {
      const term = this.#storage.visibleTerm(st.commitIndex);
      if (term !== undefined) this.#env.onLeaderCommit(this, st.commitIndex, term);
      if (term !== undefined && term !== st.term && this.#leaderCommit > 0) {
        throw new InvariantViolation(
          "old-term-commit",
          `${this.id}, leader of term ${st.term}, moved its commit index from ` +
            `${this.#leaderCommit} to ${st.commitIndex}, an entry of term ${term}`,
        );
      }
      this.#leaderCommit = st.commitIndex;
    }
  }

  #leaveLeadership(): void {
    if (this.#leaderTerm === 0) return;
    this.#leaderTerm = 0;
    this.#env.inv.setLeaderView(this.id, null);
  }

  #observeApplied(entries: readonly Entry[]): void {
    const inv = this.#env.inv;
    const term = this.#node?.status().term ?? this.#storage.initialState().hardState.term;
    for (const e of entries) {
      if (e.index !== this.#applied + 1) {
        throw new InvariantViolation(
          "host-contract",
          `${this.id} applies ${e.index} after applying ${this.#applied}`,
        );
      }
      inv.observeCommitted(this.id, e, term);
      const fp = entryFingerprint(e);
      this.#digest = chainDigest(this.#digest, e.index, e.term, fp);
      this.#applied = e.index;
      inv.observeApplied(this.id, e.index, e.term, fp, this.#digest);
      if (e.type === EntryType.Normal && e.data.byteLength > 0) this.#observeCommand(e);
      if (e.type === EntryType.ConfChange) {
        // The core adopts the change after this apply: its voters now are the old ones.
        this.votersBeforeChange = this.#node?.cluster().members
          .filter((m) => m.role === "voter").map((m) => m.id) ?? null;
        const cc = decodeConfChange(e.data);
        if (cc !== null) this.#env.onConfChange(this, cc);
      }
    }
    const last = entries[entries.length - 1];
    if (last !== undefined) this.#note(() => `applied through ${last.index}@${last.term}`);
  }

  /** Notes lease changes and the stamps of `expire` entries, for the lease checker. */
  #observeCommand(e: Entry): void {
    let envelope: KvEnvelope;
    try {
      envelope = decodeEnvelope(e.data);
    } catch {
      return; // not a command this check is about (the store refuses it alike everywhere)
    }
    const op = envelope.command.op;
    if (op === "expire") this.expiredAt.push(envelope.nowMs);
    if (op === "expire" || op === "leaseGrant" || op === "leaseRevoke") this.leaseEvents = true;
  }

  #note(text: string | (() => string)): void {
    const env = this.#env;
    env.trace.add({ step: env.stepNo(), atMs: env.nowMs(), node: this.id, what: text });
  }
}
