/**
 * One simulated host: a Raft core, its durable {@link SimMemoryLog}, a state machine and
 * the latest snapshot. It follows the persistence contract in `messages.ts` to the
 * letter: send `messages` at once, make the Ready durable (which may take simulated
 * time: the Ready is "in flight" until its fsync completes, and a crash meanwhile loses
 * it), then send `messagesAfterPersist`, apply, serve reads and `advance()`.
 *
 * Everything the host observes goes to the {@link InvariantChecker}.
 *
 * @module
 */

import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  ReadState,
  Ready,
} from "../../src/raft/messages.ts";
import { MessageType } from "../../src/raft/messages.ts";
import type { Core, SimMemoryLog, SimRaft, SimRaftConfig, SimRaftStatus } from "./core.ts";
import { entryFingerprint, InvariantViolation } from "./invariants.ts";
import type { InvariantChecker } from "./invariants.ts";
import type { Bootstrap } from "./bootstrap.ts";
import type { Prng } from "./prng.ts";
import { emptySnapshot, type SmSnapshot, StateMachine } from "./state_machine.ts";
import type { Trace } from "./trace.ts";
import { formatEntries } from "./trace.ts";

/** Readies taken in one pump before the host assumes the core is spinning. */
export const MAX_READY_ROUNDS_PER_PUMP = 256;
/** Snapshots a host buffers between receiving the bytes and persisting them. */
export const MAX_BUFFERED_SNAPSHOTS = 4;
/** Client writes a host tracks while waiting for them to apply. */
export const MAX_PENDING_PROPOSALS = 4096;

/** What a host needs from the cluster around it. */
export interface HostEnv {
  readonly inv: InvariantChecker;
  readonly trace: Trace;
  readonly core: Core;
  nowMs(): number;
  stepNo(): number;
  /** Puts `m` on the network; snapshot messages carry the state machine's bytes. */
  send(m: Message, snapshot: SmSnapshot | null): void;
  /** Asks for `fsyncDone(incarnation)` to be called at `atMs`. */
  scheduleFsync(node: SimNode, incarnation: number, atMs: number): void;
  /** A client write proposed on this host applied at its index with its term. */
  onAck(node: SimNode, index: number, term: number, fp: number): void;
  /** This host applied a membership change at `index`. */
  onConfChange(node: SimNode, cc: ConfChange, index: number): void;
  /** Counts an event for the run summary. */
  count(what: "snapshotsInstalled" | "tornCrashes"): void;
}

/** Per-host knobs chosen by the run's seed. */
export interface HostOptions {
  /** 0 persists synchronously; otherwise each Ready takes [min, max] ms to fsync. */
  fsyncMinMs: number;
  fsyncMaxMs: number;
  /**
   * A crash during an fsync keeps a prefix of the Ready (snapshot, some entries, maybe
   * the hard state), as a torn write-ahead-log tail would. The contract's order
   * (snapshot, then entries, then hard state) says which prefixes are possible.
   */
  tornWrites: boolean;
  raft: Omit<SimRaftConfig, "id" | "log" | "seed" | "applied">;
}

interface PendingWrite {
  term: number;
  fp: number;
}

/** A simulated server. Durable state (log, snapshot) survives `crash()`; the rest does not. */
export class SimNode {
  readonly id: string;
  readonly options: HostOptions;
  readonly log: SimMemoryLog;
  #env: HostEnv;
  #prng: Prng;
  #seed: number;
  /** The state behind `log.snapshotMeta()`: durable. */
  #snap: SmSnapshot;
  #raft: SimRaft | null = null;
  #sm: StateMachine | null = null;
  #incarnation = 0;
  #inflight: Ready | null = null;
  #received = new Map<number, SmSnapshot>();
  /** The snapshot buffer as it was when the process died (a torn write may use it). */
  #receivedAtCrash = new Map<number, SmSnapshot>();
  #pendingReads: ReadState[] = [];
  #pendingWrites = new Map<number, PendingWrite>();
  /** Highest commit index this incarnation reported, to check it never regresses. */
  #lastCommit = 0;
  /** Term last reported by this incarnation, to check it never regresses. */
  #lastTerm = 0;
  /** The term this host leads with a registered leader view, or 0. */
  #leaderTerm = 0;

  /** A founding member (its log starts with `bootstrap`) or, with null, a joiner. */
  constructor(
    id: string,
    bootstrap: Bootstrap | null,
    options: HostOptions,
    prng: Prng,
    env: HostEnv,
  ) {
    this.id = id;
    this.options = options;
    this.#env = env;
    this.#prng = prng;
    this.#seed = prng.nextUint32();
    const empty: ConfState = { voters: [], learners: [] };
    this.log = env.core.newLog(empty);
    this.#snap = emptySnapshot(empty);
    if (bootstrap !== null) {
      env.inv.observeLogAppend(id, bootstrap.entries, 0);
      this.log.append(bootstrap.entries);
      this.log.setHardState(bootstrap.hardState);
    }
  }

  /** True while the process is running. */
  get up(): boolean {
    return this.#raft !== null;
  }

  /** Bumped on every start: stale fsyncs and snapshot reports compare against it. */
  get incarnation(): number {
    return this.#incarnation;
  }

  /** The live core; throws when the host is down. */
  get raft(): SimRaft {
    if (this.#raft === null) throw new Error(`${this.id} is down`);
    return this.#raft;
  }

  /** The live state machine, or null when down. */
  get sm(): StateMachine | null {
    return this.#sm;
  }

  /** True while a Ready waits for its fsync. */
  get persisting(): boolean {
    return this.#inflight !== null;
  }

  /** Starts (or restarts) the process from durable state only. */
  start(): void {
    if (this.#raft !== null) return;
    this.#incarnation++;
    this.#sm = new StateMachine(this.#snap, this.#env.core.decodeConfChange);
    this.#lastCommit = 0;
    this.#lastTerm = 0;
    this.#raft = this.#env.core.newRaft({
      ...this.options.raft,
      id: this.id,
      log: this.log,
      seed: (this.#seed + this.#incarnation * 0x9e3779b1) >>> 0,
      applied: this.#snap.index,
    });
    const snapIndex = this.#snap.index;
    const last = this.log.lastIndex();
    this.#note(() => `start #${this.#incarnation} from snapshot ${snapIndex}, last ${last}`);
  }

  /** Kills the process: unpersisted Readies, buffers, waiting clients and reads are lost. */
  crash(): void {
    if (this.#raft === null) return;
    const lost = this.#inflight;
    if (this.#leaderTerm !== 0) this.#env.inv.setLeaderView(this.id, null);
    this.#leaderTerm = 0;
    this.#raft = null;
    this.#sm = null;
    this.#inflight = null;
    this.#receivedAtCrash = this.#received;
    this.#received = new Map();
    for (const rs of this.#pendingReads) this.#env.inv.forgetRead(rs.context);
    this.#pendingReads = [];
    this.#pendingWrites.clear();
    const kept = lost !== null && this.options.tornWrites ? this.#persistTornPrefix(lost) : "";
    if (kept !== "") this.#env.count("tornCrashes");
    this.#note(() =>
      `CRASH${lost === null ? "" : ` losing unsynced ${formatEntries(lost.entries)}`}${kept}`
    );
  }

  /** Makes a random prefix of `rd` durable; says what survived, for the trace. */
  #persistTornPrefix(rd: Ready): string {
    const p = this.#prng;
    if (rd.snapshot !== null) {
      const bytes = this.#receivedAtCrash.get(rd.snapshot.index);
      if (bytes === undefined || p.chance(0.5)) return " (torn: nothing kept)";
      this.log.applySnapshot(rd.snapshot);
      this.#snap = bytes;
    }
    const k = p.int(rd.entries.length + 1);
    if (k > 0) this.log.append(rd.entries.slice(0, k));
    const withHardState = k === rd.entries.length && rd.hardState !== null && p.chance(0.5);
    if (withHardState && rd.hardState !== null) this.log.setHardState(rd.hardState);
    return ` (torn: kept ${rd.snapshot === null ? "" : "snapshot, "}${k}/${rd.entries.length} ` +
      `entries${withHardState ? ", hard state" : ""})`;
  }

  /** The core's status; only while up. */
  status(): SimRaftStatus {
    return this.raft.status();
  }

  /** Tracks a client write so its application can be acknowledged. */
  trackWrite(index: number, term: number, fp: number): void {
    if (this.#pendingWrites.size >= MAX_PENDING_PROPOSALS) return; // client gave up
    this.#pendingWrites.set(index, { term, fp });
  }

  /** Delivers one message (with snapshot bytes for Snapshot messages), then pumps. */
  deliver(m: Message, snapshot: SmSnapshot | null): void {
    if (this.#raft === null) return;
    if (m.type === MessageType.Snapshot) {
      if (snapshot === null || snapshot.index !== m.snapshot.index) {
        throw new InvariantViolation("host-contract", `${this.id} got snapshot meta without bytes`);
      }
      if (this.#received.size >= MAX_BUFFERED_SNAPSHOTS) {
        const oldest = Math.min(...this.#received.keys());
        this.#received.delete(oldest);
      }
      this.#received.set(snapshot.index, snapshot);
    }
    this.#raft.step(m);
    this.pump();
  }

  /**
   * Takes and handles Readies until the core has none or one waits for its fsync, then
   * checks the core's status (election safety, commit within the log, no term regress).
   */
  pump(): void {
    this.#pumpReadies();
    this.#observe();
  }

  #observe(): void {
    const raft = this.#raft;
    if (raft === null) return;
    const st = raft.status();
    if (st.role === "leader") this.#env.inv.observeLeader(this.id, st.term);
    if (this.#leaderTerm !== 0 && (st.role !== "leader" || st.term !== this.#leaderTerm)) {
      this.#leaderTerm = 0;
      this.#env.inv.setLeaderView(this.id, null);
    }
    if (st.commit > st.lastIndex || st.term < this.#lastTerm) {
      throw new InvariantViolation(
        "core-consistency",
        `${this.id} reports commit ${st.commit} > last ${st.lastIndex} or term ${st.term} ` +
          `< ${this.#lastTerm} seen earlier in this incarnation`,
      );
    }
    this.#lastTerm = st.term;
  }

  #pumpReadies(): void {
    for (let round = 0; round < MAX_READY_ROUNDS_PER_PUMP; round++) {
      const raft = this.#raft;
      if (raft === null) return;
      if (this.#inflight !== null) {
        // While the fsync runs, heartbeats and appends still leave, and (as the driver
        // does, here at random) entries committed and reads confirmed meanwhile apply.
        for (const m of raft.takeMessages()) this.#send(m);
        if (this.#inflight.snapshot === null && this.#prng.chance(0.5)) {
          const { committedEntries, readStates } = raft.takeApplicable();
          this.#apply(committedEntries);
          raft.appliedEntries(committedEntries);
          this.#pendingReads.push(...readStates);
          this.#serveReads();
        }
        return;
      }
      if (!raft.hasReady()) return;
      const rd = raft.ready();
      this.#takeReady(raft, rd);
      if (this.options.fsyncMaxMs === 0) {
        this.fsyncDone(this.#incarnation);
      } else {
        const delay = this.#prng.range(this.options.fsyncMinMs, this.options.fsyncMaxMs);
        this.#env.scheduleFsync(this, this.#incarnation, this.#env.nowMs() + delay);
        return;
      }
    }
    throw new InvariantViolation("host-contract", `${this.id} kept producing Readies`);
  }

  #takeReady(raft: SimRaft, rd: Ready): void {
    this.#inflight = rd;
    this.#checkNewEntries(rd);
    if (rd.softState.role === "leader") this.#checkLeader(raft, rd);
    if (rd.entries.length > 0 || rd.snapshot !== null || rd.hardState !== null) {
      this.#note(() => describeReady(rd));
    }
    for (const m of rd.messages) this.#send(m);
    // Committed entries are durable already: they apply now, as the driver does, so
    // entries taken while this Ready's fsync runs come after them.
    if (rd.snapshot === null) this.#applyCommitted(rd);
  }

  #applyCommitted(rd: Ready): void {
    this.#apply(rd.committedEntries);
    for (const rs of rd.readStates) this.#pendingReads.push(rs);
    this.#serveReads();
  }

  /** Log matching on the entries about to join this node's log. */
  #checkNewEntries(rd: Ready): void {
    const first = rd.entries[0];
    if (first === undefined) return;
    let prevTerm: number | undefined;
    if (rd.snapshot !== null && first.index === rd.snapshot.index + 1) {
      prevTerm = rd.snapshot.term;
    } else {
      prevTerm = first.index === 1 ? 0 : this.log.term(first.index - 1);
    }
    if (prevTerm === undefined) {
      throw new InvariantViolation(
        "log-matching",
        `${this.id} appends from ${first.index} but holds no entry at ${first.index - 1} ` +
          `(first=${this.log.firstIndex()} last=${this.log.lastIndex()})`,
      );
    }
    if (first.index <= this.#snap.index) {
      throw new InvariantViolation(
        "host-contract",
        `${this.id} asked to overwrite compacted index ${first.index} (snapshot ${this.#snap.index})`,
      );
    }
    this.#env.inv.observeLogAppend(this.id, rd.entries, prevTerm);
  }

  /** Election safety and leader completeness, on the leader's whole log. */
  #checkLeader(raft: SimRaft, rd: Ready): void {
    const st = raft.status();
    if (st.role !== "leader") return;
    const inv = this.#env.inv;
    inv.observeLeader(this.id, st.term);
    const first = rd.entries[0];
    const termAt = (i: number): number | undefined => {
      if (first !== undefined && i >= first.index) return rd.entries[i - first.index]?.term;
      return this.log.term(i);
    };
    inv.checkLeaderCompleteness(this.id, st.term, this.log.firstIndex(), termAt);
    if (this.#leaderTerm !== st.term) {
      this.#leaderTerm = st.term;
      inv.setLeaderView(this.id, {
        term: st.term,
        firstIndex: () => this.log.firstIndex(),
        termAt: (i) => this.#visibleTerm(i),
      });
    }
  }

  /** Term at `i` in this node's log as the host sees it: durable plus the unsynced Ready. */
  #visibleTerm(i: number): number | undefined {
    const first = this.#inflight?.entries[0];
    if (first !== undefined && i >= first.index) {
      return this.#inflight?.entries[i - first.index]?.term;
    }
    return this.log.term(i);
  }

  #send(m: Message): void {
    if (isLeaderMessage(m)) this.#env.inv.observeLeader(m.from, m.term);
    if (m.type === MessageType.VoteResponse && !m.reject) {
      this.#env.inv.observeVoteGranted(m.from, m.term, m.to);
    }
    let snap: SmSnapshot | null = null;
    if (m.type === MessageType.Snapshot) {
      if (this.#snap.index !== m.snapshot.index || this.#snap.term !== m.snapshot.term) {
        throw new InvariantViolation(
          "host-contract",
          `${this.id} sends snapshot ${m.snapshot.index}@${m.snapshot.term} but stores ` +
            `${this.#snap.index}@${this.#snap.term}`,
        );
      }
      snap = this.#snap;
    }
    this.#env.send(m, snap);
  }

  /** The in-flight Ready is durable now (ignored if the process died meanwhile). */
  fsyncDone(incarnation: number): void {
    const raft = this.#raft;
    const rd = this.#inflight;
    if (raft === null || rd === null || incarnation !== this.#incarnation) return;
    this.#persist(rd);
    for (const m of rd.messagesAfterPersist) this.#send(m);
    // With a snapshot, entries after it apply once it is installed.
    if (rd.snapshot !== null) this.#applyCommitted(rd);
    this.#inflight = null;
    raft.advance(rd);
  }

  #persist(rd: Ready): void {
    const inv = this.#env.inv;
    if (rd.snapshot !== null) {
      const meta = rd.snapshot;
      const bytes = this.#received.get(meta.index);
      const sm = this.#sm;
      if (bytes === undefined || bytes.term !== meta.term || sm === null) {
        throw new InvariantViolation(
          "host-contract",
          `${this.id} must persist snapshot ${meta.index}@${meta.term} it never received`,
        );
      }
      if (meta.index <= sm.index) {
        throw new InvariantViolation(
          "host-contract",
          `${this.id} told to install snapshot ${meta.index} at or below applied ${sm.index}`,
        );
      }
      inv.observeSnapshot(this.id, meta.index, meta.term);
      this.log.applySnapshot(meta);
      this.#snap = bytes;
      for (const idx of [...this.#received.keys()]) {
        if (idx <= meta.index) this.#received.delete(idx); // newer ones may be stepped already
      }
      sm.restore(bytes);
      inv.observeDigest(this.id, bytes.index, bytes.digest);
      this.#env.count("snapshotsInstalled");
      for (const idx of [...this.#pendingWrites.keys()]) {
        if (idx <= meta.index) this.#pendingWrites.delete(idx); // outcome unknown to client
      }
      this.#note(() => `installed snapshot ${meta.index}@${meta.term}`);
    }
    if (rd.entries.length > 0) this.log.append(rd.entries);
    if (rd.hardState !== null) {
      const hs = rd.hardState;
      if (hs.commit < this.#lastCommit) {
        throw new InvariantViolation(
          "host-contract",
          `${this.id} commit went back from ${this.#lastCommit} to ${hs.commit}`,
        );
      }
      this.#lastCommit = hs.commit;
      this.log.setHardState(hs);
    }
  }

  #apply(entries: readonly Entry[]): void {
    const sm = this.#sm;
    if (sm === null || entries.length === 0) return;
    const inv = this.#env.inv;
    const term = this.raft.status().term;
    for (const e of entries) {
      if (e.index <= sm.index) continue; // already covered by an installed snapshot
      if (e.index !== sm.index + 1) {
        throw new InvariantViolation(
          "host-contract",
          `${this.id} handed committed ${e.index} after applying ${sm.index}`,
        );
      }
      inv.observeCommitted(this.id, e, term);
      const out = sm.apply(e);
      inv.observeApplied(this.id, e.index, e.term, out.fp, out.digest);
      if (out.confChange !== null) this.#env.onConfChange(this, out.confChange, e.index);
      const waiting = this.#pendingWrites.get(e.index);
      if (waiting !== undefined) {
        this.#pendingWrites.delete(e.index);
        if (waiting.term === e.term && waiting.fp === out.fp) {
          this.#env.onAck(this, e.index, e.term, out.fp);
        }
      }
    }
    const last = entries[entries.length - 1] as Entry;
    this.#note(() => `applied through ${last.index}@${last.term}`);
  }

  #serveReads(): void {
    const sm = this.#sm;
    if (sm === null || this.#pendingReads.length === 0) return;
    const still: ReadState[] = [];
    for (const rs of this.#pendingReads) {
      if (rs.index <= sm.index) {
        this.#env.inv.observeReadState(this.id, rs.context, rs.index);
        const applied = sm.index;
        this.#note(() => `read ${rs.context} served at index ${rs.index} (applied ${applied})`);
      } else {
        still.push(rs);
      }
    }
    this.#pendingReads = still;
  }

  /**
   * Takes a local snapshot at the applied index and compacts the log up to it. Only
   * between Readies, as a real host would snapshot from applied state.
   */
  snapshotAndCompact(): boolean {
    const sm = this.#sm;
    if (this.#raft === null || sm === null || this.#inflight !== null) return false;
    if (sm.index <= this.#snap.index) return false;
    const snap = sm.snapshot();
    this.log.compact(snap.index, snap.conf);
    this.#snap = snap;
    this.#note(() => `compacted through ${snap.index}@${snap.term}`);
    return true;
  }

  /** The latest snapshot (durable). */
  get snapshot(): SmSnapshot {
    return this.#snap;
  }

  #note(text: string | (() => string)): void {
    const env = this.#env;
    env.trace.add({ step: env.stepNo(), atMs: env.nowMs(), node: this.id, what: text });
  }
}

/** Messages only a leader of `m.term` may send. */
function isLeaderMessage(m: Message): boolean {
  return m.type === MessageType.Append || m.type === MessageType.Heartbeat ||
    m.type === MessageType.Snapshot || m.type === MessageType.TimeoutNow;
}

/** One line for a Ready: what it persists. */
function describeReady(rd: Ready): string {
  const parts = ["ready"];
  if (rd.snapshot !== null) parts.push(`snap=${rd.snapshot.index}@${rd.snapshot.term}`);
  if (rd.entries.length > 0) parts.push(formatEntries(rd.entries));
  const hs = rd.hardState;
  if (hs !== null) parts.push(`hs(t${hs.term} vote=${hs.vote ?? "-"} c${hs.commit})`);
  if (rd.committedEntries.length > 0) {
    const c = rd.committedEntries;
    parts.push(`commit ${(c[0] as Entry).index}..${(c[c.length - 1] as Entry).index}`);
  }
  return parts.join(" ");
}

/** Fingerprint helper re-exported for the cluster's client. */
export { entryFingerprint };
