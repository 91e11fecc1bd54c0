/**
 * A simulated cluster: hosts, the network between them, the virtual clock and every
 * action the scheduler can take (tick, deliver, complete an fsync, client writes and
 * reads, crashes, partitions, membership changes, compaction, leadership transfer).
 * The run loop that picks actions lives in `run.ts`.
 *
 * @module
 */

import type { ConfChange, Message, NodeId } from "../../src/raft/messages.ts";
import { MessageType } from "../../src/raft/messages.ts";
import { type Bootstrap, bootstrapLog } from "./bootstrap.ts";
import type { Core, SimProposeResult } from "./core.ts";
import { EventQueue } from "./event_queue.ts";
import { entryFingerprint } from "./fingerprint.ts";
import { InvariantChecker } from "./invariants.ts";
import { Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { RunConfig } from "./run_config.ts";
import { drawHostOptions, MAX_HOSTS, MAX_VOTERS, MIN_VOTERS, TICK_MS } from "./run_config.ts";
import { type HostEnv, SimNode } from "./sim_node.ts";
import type { SmSnapshot } from "./state_machine.ts";
import type { Trace } from "./trace.ts";

/** Most client items in one proposeBatch. */
export const MAX_BATCH_ITEMS = 4;

/** What travels on the simulated network. */
interface Envelope {
  m: Message;
  snapshot: SmSnapshot | null;
  senderIncarnation: number;
}

/** Timed work other than packet arrivals. */
type SimEvent =
  | { kind: "tick"; node: NodeId }
  | { kind: "fsync"; node: NodeId; incarnation: number }
  | { kind: "restart"; node: NodeId }
  | { kind: "resume"; node: NodeId }
  | { kind: "crashNow"; node: NodeId; incarnation: number }
  | { kind: "stop"; node: NodeId }
  | { kind: "reportSnapshot"; node: NodeId; incarnation: number; peer: NodeId; ok: boolean }
  | { kind: "reportUnreachable"; node: NodeId; incarnation: number; peer: NodeId };

/** A process stalled (GC pause, swapped out): its inputs pile up until it resumes. */
interface Pause {
  untilMs: number;
  missedTicks: number;
  held: Envelope[];
}

/** Counters printed in run summaries. */
export interface ClusterStats {
  writesProposed: number;
  writesAcked: number;
  readsIssued: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  compactions: number;
  transfers: number;
  pauses: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  tornCrashes: number;
  leaderTerms: number;
  readsServed: number;
  maxTerm: number;
}

/** Hosts, network, clock and actions of one run. */
export class Cluster {
  readonly config: RunConfig;
  readonly inv = new InvariantChecker();
  readonly trace: Trace;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Hosts taken out for good (removed from the membership). */
  readonly retired = new Set<NodeId>();
  readonly network: Network<Envelope>;
  readonly stats: ClusterStats = {
    writesProposed: 0,
    writesAcked: 0,
    readsIssued: 0,
    crashes: 0,
    partitions: 0,
    confChanges: 0,
    compactions: 0,
    transfers: 0,
    pauses: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    tornCrashes: 0,
    leaderTerms: 0,
    readsServed: 0,
    maxTerm: 0,
  };
  nowMs = 0;
  step = 0;
  /** False once the final phase stops injecting faults. */
  faults = true;
  #prng: Prng;
  #core: Core;
  #events = new EventQueue<SimEvent>();
  #env: HostEnv;
  #nextNodeNo = 1;
  #nextWrite = 0;
  #nextRead = 0;
  #pendingRestart = new Set<NodeId>();
  #paused = new Map<NodeId, Pause>();
  /** Set while the final phase waits for this write; resolved by onAck. */
  probe: { index: number; term: number; acked: boolean } | null = null;

  /** Builds the initial voters and learners, all up, ticking with random phases. */
  constructor(config: RunConfig, core: Core, prng: Prng, trace: Trace) {
    this.config = config;
    this.#core = core;
    this.#prng = prng;
    this.trace = trace;
    this.network = new Network<Envelope>(prng.fork(), config.calmLink);
    this.#env = this.#makeEnv();
    const ids = Array.from({ length: config.voters + config.learners }, () => this.#newId());
    const boot = bootstrapLog(core, ids.slice(0, config.voters), ids.slice(config.voters));
    ids.forEach((id, i) => {
      const opts = config.hosts[i] ?? drawHostOptions(this.#prng, {}, false);
      this.#addHost(id, boot, opts);
    });
  }

  #newId(): NodeId {
    return `n${this.#nextNodeNo++}`;
  }

  #addHost(id: NodeId, boot: Bootstrap | null, opts: SimNode["options"]): SimNode {
    const node = new SimNode(id, boot, opts, this.#prng.fork(), this.#env);
    this.nodes.set(id, node);
    node.start();
    this.#events.push(this.nowMs + 1 + this.#prng.int(TICK_MS), { kind: "tick", node: id });
    return node;
  }

  #makeEnv(): HostEnv {
    return {
      inv: this.inv,
      trace: this.trace,
      core: this.#core,
      nowMs: () => this.nowMs,
      stepNo: () => this.step,
      send: (m, snapshot) => this.#send(m, snapshot),
      scheduleFsync: (node, incarnation, atMs) => {
        this.#events.push(atMs, { kind: "fsync", node: node.id, incarnation });
        if (
          this.faults && atMs > this.nowMs + 1 && this.#prng.chance(this.config.crashInFsyncRate)
        ) {
          const at = this.nowMs + 1 + this.#prng.int(atMs - this.nowMs - 1);
          this.#events.push(at, { kind: "crashNow", node: node.id, incarnation });
        }
      },
      onAck: (_node, index, term, fp) => {
        this.inv.observeAck(index, term, fp);
        this.stats.writesAcked++;
        const p = this.probe;
        if (p !== null && p.index === index && p.term === term) p.acked = true;
      },
      onConfChange: (_node, cc) => this.#onConfChange(cc),
      count: (what) => this.stats[what]++,
    };
  }

  #send(m: Message, snapshot: SmSnapshot | null): void {
    freezeMessage(m); // duplicates share the object: a core that mutates input throws
    const sender = this.nodes.get(m.from);
    const inc = sender?.incarnation ?? 0;
    if (m.term > this.stats.maxTerm) this.stats.maxTerm = m.term;
    if (snapshot !== null) this.stats.snapshotsSent++;
    const outcome = this.network.send(
      m.from,
      m.to,
      { m, snapshot, senderIncarnation: inc },
      this.nowMs,
    );
    if (outcome === "queued") return;
    // Reports go through the event queue: the core is in the middle of a Ready now.
    if (m.type === MessageType.Snapshot) {
      this.#events.push(this.nowMs, {
        kind: "reportSnapshot",
        node: m.from,
        incarnation: inc,
        peer: m.to,
        ok: false,
      });
    } else if (outcome === "cut") {
      this.#events.push(this.nowMs, {
        kind: "reportUnreachable",
        node: m.from,
        incarnation: inc,
        peer: m.to,
      });
    }
  }

  /** Copies the checker's counters into {@link stats} (end of run). */
  finishStats(): void {
    this.stats.leaderTerms = this.inv.leaderTerms;
    this.stats.readsServed = this.inv.readsServed;
  }

  /** Hosts that are running and not retired. */
  upNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) {
      if (n.up && !this.retired.has(n.id) && !this.#paused.has(n.id)) out.push(n);
    }
    return out;
  }

  /** The running leader with the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const n of this.upNodes()) {
      const st = n.status();
      if (st.role === "leader" && st.term > bestTerm) {
        best = n;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Time of the next timed event or packet arrival. */
  nextEventMs(): number {
    return Math.min(this.#events.peekTime(), this.network.nextArrivalMs());
  }

  /** Runs the next timed event or packet arrival; false when nothing is queued. */
  runNextEvent(): boolean {
    const evAt = this.#events.peekTime();
    const pkAt = this.network.nextArrivalMs();
    if (evAt === Infinity && pkAt === Infinity) return false;
    if (pkAt < evAt) {
      this.nowMs = Math.max(this.nowMs, pkAt);
      this.#arrive();
    } else {
      const ev = this.#events.pop();
      if (ev === undefined) return false;
      this.nowMs = Math.max(this.nowMs, ev.atMs);
      this.#handle(ev.value);
    }
    return true;
  }

  #arrive(): void {
    const arrival = this.network.pop();
    if (arrival === undefined) return;
    const pause = this.#paused.get(arrival.packet.to);
    if (pause !== undefined && arrival.kind === "delivered") {
      pause.held.push(arrival.packet.payload); // sits in the socket buffer until resume
      return;
    }
    this.#deliver(arrival.packet.payload, arrival.kind === "delivered");
  }

  #deliver(envelope: Envelope, arrived: boolean): void {
    const { m, snapshot, senderIncarnation } = envelope;
    const target = this.nodes.get(m.to);
    const delivered = arrived && target !== undefined && target.up &&
      !this.retired.has(m.to);
    if (m.type === MessageType.Snapshot) {
      this.#events.push(this.nowMs, {
        kind: "reportSnapshot",
        node: m.from,
        incarnation: senderIncarnation,
        peer: m.to,
        ok: delivered,
      });
    }
    if (!delivered || target === undefined) return;
    this.trace.add({ step: this.step, atMs: this.nowMs, node: m.to, what: m });
    target.deliver(m, snapshot);
  }

  #handle(ev: SimEvent): void {
    const node = this.nodes.get(ev.node);
    if (node === undefined) return;
    const pause = this.#paused.get(node.id);
    if (pause !== undefined && ev.kind !== "resume") {
      if (ev.kind === "tick") {
        pause.missedTicks++;
        this.#events.push(this.nowMs + TICK_MS, ev);
      } else {
        this.#events.push(pause.untilMs, ev); // the process runs nothing while paused
      }
      return;
    }
    switch (ev.kind) {
      case "resume":
        this.#resume(node);
        return;
      case "crashNow":
        if (node.up && node.incarnation === ev.incarnation && node.persisting) {
          this.#crash(node, this.#prng.pick([1, 5, 20]));
        }
        return;
      case "tick":
        if (this.retired.has(node.id)) return; // retired hosts stop ticking for good
        this.#events.push(this.nowMs + TICK_MS, ev);
        if (!node.up) return;
        node.raft.tick();
        node.pump();
        return;
      case "fsync":
        node.fsyncDone(ev.incarnation);
        node.pump();
        return;
      case "restart":
        this.#pendingRestart.delete(node.id);
        if (this.retired.has(node.id)) return;
        node.start();
        node.pump();
        return;
      case "stop":
        this.#note(node.id, "retired (removed from membership)");
        node.crash();
        this.retired.add(node.id);
        this.#dropConnections(node.id);
        return;
      case "reportSnapshot":
        if (!node.up || node.incarnation !== ev.incarnation) return;
        node.raft.reportSnapshot(ev.peer, ev.ok);
        node.pump();
        return;
      case "reportUnreachable":
        if (!node.up || node.incarnation !== ev.incarnation) return;
        node.raft.reportUnreachable(ev.peer);
        node.pump();
        return;
    }
  }

  #note(node: string, what: string | (() => string)): void {
    this.trace.add({ step: this.step, atMs: this.nowMs, node, what });
  }

  // ---- client actions -------------------------------------------------------------

  /** A client writes a batch to the leader (sometimes to a random host, to be refused). */
  clientWrite(): void {
    const target = this.#prng.chance(0.9) ? this.leader() : this.#randomUp();
    if (target === null) return;
    const n = 1 + this.#prng.int(MAX_BATCH_ITEMS);
    const items: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      items.push(new TextEncoder().encode(`w${this.config.seed}.${this.#nextWrite++}`));
    }
    const res = n === 1
      ? target.raft.propose(items[0] as Uint8Array)
      : target.raft.proposeBatch(items);
    this.stats.writesProposed += n;
    this.#trackProposal(target, res, items);
    target.pump();
  }

  #trackProposal(target: SimNode, res: SimProposeResult, items: Uint8Array[]): void {
    if (!res.ok) {
      this.#note(target.id, `propose ${items.length} refused: ${res.reason}`);
      return;
    }
    const first = batchFirstIndex(res.index, items.length);
    items.forEach((data, k) => {
      const fp = entryFingerprint({ index: first + k, term: res.term, type: 0, data });
      target.trackWrite(first + k, res.term, fp);
    });
    this.#note(
      target.id,
      `propose ${items.length} at ${first}..${first + items.length - 1}@${res.term}`,
    );
  }

  /** A client issues a linearizable read on some host (usually the leader). */
  clientRead(): void {
    const target = this.#prng.chance(0.7) ? this.leader() : this.#randomUp();
    if (target === null) return;
    const ctx = ++this.#nextRead;
    const mode = this.config.checkQuorum && this.#prng.chance(0.5) ? "lease" : "safe";
    this.inv.observeReadIssued(ctx);
    this.stats.readsIssued++;
    this.#note(target.id, `read ${ctx} (${mode}) issued, acked floor ${this.inv.maxAckedIndex}`);
    target.raft.readIndex(ctx, mode);
    target.pump();
  }

  /** Proposes `data` on `node` as a single write and returns the result (final phase). */
  proposeProbe(node: SimNode, data: Uint8Array): SimProposeResult {
    const res = node.raft.propose(data);
    this.#trackProposal(node, res, [data]);
    node.pump();
    return res;
  }

  #randomUp(): SimNode | null {
    const up = this.upNodes();
    return up.length === 0 ? null : this.#prng.pick(up);
  }

  // ---- faults -----------------------------------------------------------------------

  /** Crashes a random host; it restarts after a random downtime. */
  crashOne(): void {
    // Half the time, hit a host in the middle of an fsync: that is when crashes lose data.
    const syncing = this.upNodes().filter((n) => n.persisting);
    const node = syncing.length > 0 && this.#prng.chance(0.5)
      ? this.#prng.pick(syncing)
      : this.#randomUp();
    if (node === null) return;
    this.#crash(node, this.#prng.pick([5, 50, 200, 1000, 3000]));
  }

  #crash(node: SimNode, downMs: number): void {
    node.crash();
    this.stats.crashes++;
    this.#dropConnections(node.id);
    this.#pendingRestart.add(node.id);
    this.#events.push(this.nowMs + downMs, { kind: "restart", node: node.id });
  }

  /**
   * A dead host's connections die with it. Snapshot streams on them fail, and their
   * senders hear about it (else a leader would wait for the report forever).
   */
  #dropConnections(id: NodeId): void {
    for (const p of this.network.dropInvolving(id)) {
      const { m, senderIncarnation } = p.payload;
      if (m.type !== MessageType.Snapshot || m.from === id) continue;
      this.#events.push(this.nowMs, {
        kind: "reportSnapshot",
        node: m.from,
        incarnation: senderIncarnation,
        peer: m.to,
        ok: false,
      });
    }
  }

  /**
   * Freezes a host (the leader half of the time) without losing state, as a long GC
   * pause would. On resume it first catches up the ticks it missed (a host reads a
   * monotonic clock), then handles what arrived meanwhile: the classic trap for leader
   * leases.
   */
  pauseOne(): void {
    const leader = this.leader();
    const node = leader !== null && this.#prng.chance(0.5) ? leader : this.#randomUp();
    if (node === null) return;
    const untilMs = this.nowMs + this.#prng.pick([30, 100, 300, 1000]);
    this.#paused.set(node.id, { untilMs, missedTicks: 0, held: [] });
    this.stats.pauses++;
    this.#note(node.id, `PAUSE until ${untilMs}ms`);
    this.#events.push(untilMs, { kind: "resume", node: node.id });
  }

  #resume(node: SimNode): void {
    const pause = this.#paused.get(node.id);
    if (pause === undefined) return;
    this.#paused.delete(node.id);
    this.#note(
      node.id,
      `RESUME after ${pause.missedTicks} missed ticks, ${pause.held.length} held`,
    );
    for (let i = 0; i < pause.missedTicks && node.up; i++) node.raft.tick();
    node.pump();
    for (const envelope of pause.held) this.#deliver(envelope, true);
  }

  /** Resumes every paused host now (final phase). */
  resumeAll(): void {
    for (const id of [...this.#paused.keys()]) {
      const node = this.nodes.get(id);
      if (node !== undefined) this.#resume(node);
    }
  }

  /** Restarts every crashed, non-retired host now (final phase). */
  restartAll(): void {
    for (const n of this.nodes.values()) {
      if (!n.up && !this.retired.has(n.id)) {
        n.start();
        n.pump();
      }
    }
  }

  /** Cuts the network in one of several shapes. */
  partition(): void {
    const ids = [...this.nodes.keys()].filter((id) => !this.retired.has(id));
    if (ids.length < 2) return;
    this.stats.partitions++;
    const shuffled = this.#prng.shuffle(ids);
    const cut = 1 + this.#prng.int(ids.length - 1);
    const a = shuffled.slice(0, cut);
    const b = shuffled.slice(cut);
    const shape = this.#prng.int(4);
    if (shape === 0) {
      this.network.partition(a, b);
    } else if (shape === 1) {
      const from = this.#prng.pick(ids);
      const to = this.#prng.pick(ids.filter((x) => x !== from));
      this.network.blockOneWay(from, to);
    } else if (shape === 2) {
      this.network.bridge(a, b, this.#prng.pick(ids));
    } else {
      const leader = this.leader();
      this.network.isolate(leader?.id ?? this.#prng.pick(ids), ids);
    }
    this.#note("net", () => `partition: ${this.network.describeCuts()}`);
  }

  /** Heals every cut. */
  heal(): void {
    this.network.heal();
    this.#note("net", "heal");
  }

  /** Switches the whole network between calm and stormy links. */
  changeLinks(): void {
    const storm = this.#prng.chance(0.5);
    this.network.setAllLinks(storm ? this.config.stormLink : this.config.calmLink);
    this.#note("net", storm ? "links: storm" : "links: calm");
  }

  /** Snapshots and compacts a random host's log. */
  compactOne(): void {
    const node = this.#randomUp();
    if (node !== null && node.snapshotAndCompact()) this.stats.compactions++;
  }

  /** Asks the leader to hand leadership to a random voter. */
  transferLeadership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const voters = leader.status().conf.voters.filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = this.#prng.pick(voters);
    const accepted = leader.raft.transferLeader(to);
    this.stats.transfers++;
    this.#note(leader.id, `transfer leadership to ${to}: ${accepted ? "started" : "refused"}`);
    leader.pump();
  }

  /** A random host campaigns on its own (as an operator might force). */
  forceCampaign(): void {
    const node = this.#randomUp();
    if (node === null) return;
    this.#note(node.id, "forced campaign");
    node.raft.campaign();
    node.pump();
  }

  /** Proposes one membership change through the leader. */
  changeMembership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const conf = leader.status().conf;
    const live = [...this.nodes.keys()].filter((id) => !this.retired.has(id)).length;
    const options: ConfChange["type"][] = [];
    const canJoin = this.config.joiners && live < MAX_HOSTS;
    if (canJoin) options.push("addLearner");
    if (canJoin && conf.voters.length < MAX_VOTERS) options.push("addVoter");
    if (conf.learners.length > 0 && conf.voters.length < MAX_VOTERS) options.push("promote");
    if (conf.voters.length > MIN_VOTERS || conf.learners.length > 0) options.push("remove");
    if (options.length === 0) return;
    const type = this.#prng.pick(options);
    let nodeId: NodeId;
    let joiner: SimNode | null = null;
    if (type === "addLearner" || type === "addVoter") {
      nodeId = this.#newId();
      const opts = drawHostOptions(this.#prng, leader.options.raft, leader.options.tornWrites);
      joiner = this.#addHost(nodeId, null, opts);
    } else if (type === "promote") {
      nodeId = this.#prng.pick(conf.learners);
    } else {
      const pool = conf.voters.length > MIN_VOTERS
        ? [...conf.voters, ...conf.learners]
        : conf.learners;
      nodeId = this.#prng.pick(pool);
    }
    const cc: ConfChange = { type, nodeId, context: "" };
    const res = leader.raft.proposeConfChange(cc);
    this.#note(
      leader.id,
      `conf change ${type} ${nodeId}: ${res.ok ? `at ${res.index}` : res.reason}`,
    );
    if (res.ok) this.stats.confChanges++;
    if (!res.ok && joiner !== null) this.#retire(joiner.id, 0);
    leader.pump();
  }

  #onConfChange(cc: ConfChange): void {
    if (cc.type !== "remove" || this.retired.has(cc.nodeId)) return;
    // Committed: the removed host may keep running a little, as a real one would.
    this.#retire(cc.nodeId, this.#prng.pick([0, 20, 200]));
  }

  #retire(id: NodeId, afterMs: number): void {
    this.#events.push(this.nowMs + afterMs, { kind: "stop", node: id });
  }

  /** Members (by the leader's view) that are running, for the final checks. */
  liveMembers(leader: SimNode): SimNode[] {
    const conf = leader.status().conf;
    const out: SimNode[] = [];
    for (const id of [...conf.voters, ...conf.learners]) {
      const n = this.nodes.get(id);
      if (n !== undefined && n.up && !this.retired.has(id)) out.push(n);
    }
    return out;
  }

  /** True when a crashed host is waiting for its restart. */
  get restartsPending(): boolean {
    return this.#pendingRestart.size > 0;
  }
}

/** Freezes a message and what it references (byte arrays cannot be frozen). */
function freezeMessage(m: Message): void {
  if (Object.isFrozen(m)) return;
  if (m.type === MessageType.Append) {
    for (const e of m.entries) Object.freeze(e);
    Object.freeze(m.entries);
  } else if (m.type === MessageType.Snapshot) {
    Object.freeze(m.snapshot.conf.voters);
    Object.freeze(m.snapshot.conf.learners);
    Object.freeze(m.snapshot.conf);
    Object.freeze(m.snapshot);
  }
  Object.freeze(m);
}

/**
 * The index of a batch's first item. The core reports the batch's last index, as its
 * entries are appended in order (see `proposeBatch` in src/raft/raft.ts).
 */
export function batchFirstIndex(reportedIndex: number, items: number): number {
  return reportedIndex - items + 1;
}
