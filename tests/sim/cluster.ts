/**
 * A simulated cluster of shipped nodes: hosts ({@link SimHost}), the network between
 * them, the virtual clock and every action the scheduler can take (tick, deliver,
 * complete an fsync, client requests, crashes, wiped disks, pauses, partitions,
 * membership changes through the admin API, snapshots, leadership transfer). The run
 * loop that picks actions lives in `run.ts`.
 *
 * Determinism: the nodes' code is async, but every promise it waits on is settled by
 * this event queue (fsyncs, deliveries, ticks), so after each event the cluster drains
 * the microtask queue ({@link SETTLE_ROUNDS}) before the next: a run replays exactly.
 *
 * @module
 */

import type { ConfChange, Message, NodeId } from "../../src/raft/messages.ts";
import { MessageType } from "../../src/raft/messages.ts";
import type { MemberAddress } from "../../src/node/config.ts";
import { RaftkvError } from "../../src/errors.ts";
import type { Core } from "./core.ts";
import { EventQueue } from "./event_queue.ts";
import { InvariantChecker, InvariantViolation } from "./invariants.ts";
import { Network } from "./network.ts";
import type { Prng } from "./prng.ts";
import type { RunConfig } from "./run_config.ts";
import { drawHostOptions, MAX_HOSTS, MAX_VOTERS, MIN_VOTERS, TICK_MS } from "./run_config.ts";
import { type HostEnv, type HostOptions, simAddress, SimHost } from "./sim_host.ts";
import { freezeMessage, type SimPacket, streamChunks } from "./sim_transport.ts";
import { SimClients } from "./clients.ts";
import { SimLeases } from "./leases.ts";
import type { Trace } from "./trace.ts";

/** Microtask rounds drained after each event (chains longer than this go on next time). */
export const SETTLE_ROUNDS = 32;
/** Virtual ms the founders get to elect a leader before the founding learners join. */
export const INIT_LEADER_TIMEOUT_MS = 10_000;
/** Virtual ms between attempts to start a wiped voter (see `#mayStart`). */
export const WIPED_VOTER_RETRY_MS = 50;
/** Attempts a joiner makes to be added before it gives up. */
export const MAX_JOIN_ATTEMPTS = 20;
/** Virtual ms between a joiner's attempts to be added. */
export const JOIN_RETRY_MS = 100;
/** Virtual ms between an operator's attempts to remove a member that lost its data. */
export const REPAIR_EVERY_MS = 200;
/** Voters whose disks a run may wipe (each one stops for good once it notices). */
export const MAX_VOTER_WIPES = 1;

/** What travels on the simulated network. */
interface Envelope {
  packet: SimPacket;
  senderIncarnation: number;
}

/** The share of client requests that are lease requests (grant, keepalive, put, revoke). */
const LEASE_REQUEST_SHARE = 0.25;

/** Timed work other than packet arrivals. */
type SimEvent =
  | { kind: "tick"; node: NodeId }
  | { kind: "fsync"; node: NodeId; incarnation: number }
  | { kind: "restart"; node: NodeId }
  | { kind: "resume"; node: NodeId }
  | { kind: "crashNow"; node: NodeId; incarnation: number }
  | { kind: "stop"; node: NodeId }
  | { kind: "timer"; node: NodeId; incarnation: number; fire: () => void }
  | { kind: "clientTimeout"; node: NodeId; op: number }
  | { kind: "repair"; node: NodeId }
  | { kind: "join"; node: NodeId; role: "voter" | "learner"; attempt: number };

/** A process stalled (GC pause, swapped out): its inputs pile up until it resumes. */
interface Pause {
  untilMs: number;
  missedTicks: number;
  held: Envelope[];
}

/** Counters printed in run summaries. */
export interface ClusterStats {
  writesAcked: number;
  readsServed: number;
  unknownOutcomes: number;
  /** Writes the node answered "outcome unknown" at its own (virtual) write deadline. */
  writeDeadlines: number;
  leasesGranted: number;
  keepalivesAcked: number;
  /** Leases members lost by expiry (counted once per member incarnation). */
  leasesExpired: number;
  ttlAcked: number;
  crashes: number;
  wipes: number;
  lostLogStops: number;
  partitions: number;
  confChanges: number;
  compactions: number;
  transfers: number;
  pauses: number;
  snapshotsSent: number;
  snapshotsCut: number;
  leaderTerms: number;
  maxTerm: number;
}

/** Hosts, network, clock and actions of one run. */
export class Cluster {
  readonly config: RunConfig;
  readonly inv = new InvariantChecker();
  readonly trace: Trace;
  readonly hosts = new Map<NodeId, SimHost>();
  /** Leaders whose removal of themselves the operator is still waiting on. */
  readonly #selfRemoving = new Set<NodeId>();
  /** Hosts taken out for good (removed from the membership, or stopped on lost data). */
  readonly retired = new Set<NodeId>();
  readonly network: Network<Envelope>;
  readonly clients: SimClients;
  /** The lease clients and their invariants. */
  readonly leases: SimLeases;
  readonly stats: ClusterStats = {
    writesAcked: 0,
    readsServed: 0,
    unknownOutcomes: 0,
    writeDeadlines: 0,
    leasesGranted: 0,
    keepalivesAcked: 0,
    leasesExpired: 0,
    ttlAcked: 0,
    crashes: 0,
    wipes: 0,
    lostLogStops: 0,
    partitions: 0,
    confChanges: 0,
    compactions: 0,
    transfers: 0,
    pauses: 0,
    snapshotsSent: 0,
    snapshotsCut: 0,
    leaderTerms: 0,
    maxTerm: 0,
  };
  nowMs = 0;
  step = 0;
  /** False once the final phase stops injecting faults. */
  faults = true;
  #prng: Prng;
  #events = new EventQueue<SimEvent>();
  #env: HostEnv;
  #nextNodeNo = 1;
  #pendingRestart = new Set<NodeId>();
  #paused = new Map<NodeId, Pause>();
  #voterWipes = 0;
  #holdBackUntilMs = 0;
  /** Voters whose disks were wiped and that have not yet stopped on lost data. */
  #wipedVoters = new Set<NodeId>();
  /** Hosts added as learners for good (never promoted automatically). */
  #learnerRole = new Set<NodeId>();
  /** The first violation found inside a callback (thrown after the event). */
  #violation: InvariantViolation | null = null;

  /** Builds the initial voters and learners (started by {@link init}). */
  constructor(config: RunConfig, core: Core, prng: Prng, trace: Trace) {
    this.config = config;
    this.#prng = prng;
    this.trace = trace;
    this.network = new Network<Envelope>(prng.fork(), config.calmLink);
    const tuned: Core = {
      dir: core.dir,
      newRaft: (c) =>
        core.newRaft({
          ...c,
          preVote: config.preVote,
          checkQuorum: config.checkQuorum,
          maxAppendBytes: config.maxAppendBytes,
          maxInflightAppends: config.maxInflightAppends,
          maxUncommittedBytes: config.maxUncommittedBytes,
        }),
    };
    this.#env = this.#makeEnv(tuned);
    this.clients = new SimClients(
      {
        nowMs: () => this.nowMs,
        fail: (v) => (this.#violation ??= v),
        note: (node, what) => this.#note(node, what),
        scheduleTimeout: (op, atMs) => {
          this.#events.push(atMs, { kind: "clientTimeout", node: "client", op });
        },
      },
      prng.fork(),
      config.seed,
    );
    this.leases = new SimLeases(
      {
        nowMs: () => this.nowMs,
        tickMs: TICK_MS,
        fail: (v) => (this.#violation ??= v),
        note: (node, what) => this.#note(node, what),
      },
      prng.fork(),
    );
    const voters = Array.from({ length: config.voters }, () => this.#newId());
    const learners = Array.from({ length: config.learners }, () => this.#newId());
    // Founding learners join as learners through the log's first entries.
    const founding = new Map<NodeId, MemberAddress>();
    for (const id of voters) founding.set(id, simAddress(id));
    [...voters, ...learners].forEach((id, i) => {
      const opts = config.hosts[i] ?? drawHostOptions(this.#prng, false);
      const isVoter = i < voters.length;
      this.#addHost(id, isVoter ? founding : null, opts);
    });
    this.#foundingLearners = learners;
  }

  #foundingLearners: NodeId[];

  /** Starts the founding hosts and adds the founding learners through the leader. */
  async init(): Promise<void> {
    for (const host of this.hosts.values()) await this.#startHost(host);
    await this.settle();
    if (this.#foundingLearners.length === 0) return;
    // The learners are added once the founders elected a leader (bounded wait).
    const deadline = this.nowMs + INIT_LEADER_TIMEOUT_MS;
    while (this.leader() === null && this.nowMs < deadline && (await this.runNextEvent()));
    for (const id of this.#foundingLearners) this.#joinLater(id, "learner", 0);
  }

  #newId(): NodeId {
    return `n${this.#nextNodeNo++}`;
  }

  #addHost(id: NodeId, founding: Map<NodeId, MemberAddress> | null, opts: HostOptions): SimHost {
    const host = new SimHost(id, founding, opts, this.#prng.fork(), this.#env);
    this.hosts.set(id, host);
    this.#events.push(this.nowMs + 1 + this.#prng.int(TICK_MS), { kind: "tick", node: id });
    return host;
  }

  /**
   * A wiped voter may vote before its first heartbeat tells it its data is gone (the
   * hazard the lost-log check only narrows; its startup lease covers one election
   * timeout). It is started only while a leader can heartbeat it at once: a leader
   * exists and no cut isolates it. Otherwise its start waits.
   */
  #mayStart(host: SimHost): boolean {
    if (!this.#wipedVoters.has(host.id)) return true;
    const leader = this.leader();
    return leader !== null && !this.network.isBlocked(leader.id, host.id) &&
      !this.network.isBlocked(host.id, leader.id);
  }

  async #startHost(host: SimHost): Promise<void> {
    if (this.retired.has(host.id) || host.removedForGood) return;
    if (!this.#mayStart(host)) {
      this.#pendingRestart.add(host.id);
      this.#events.push(this.nowMs + WIPED_VOTER_RETRY_MS, { kind: "restart", node: host.id });
      return;
    }
    await host.start();
    // What --initial-cluster or a join answer gives a process: every member's address.
    const known: [NodeId, MemberAddress][] = [];
    for (const id of this.hosts.keys()) if (!this.retired.has(id)) known.push([id, simAddress(id)]);
    if (host.running) host.node.rememberMembers(known);
  }

  #makeEnv(core: Core): HostEnv {
    return {
      inv: this.inv,
      trace: this.trace,
      core,
      settings: this.config.node,
      nowMs: () => this.nowMs,
      stepNo: () => this.step,
      wire: (from, to, packet) => this.#send(from, to, packet),
      scheduleTimer: (host, incarnation, atMs, fire) => {
        this.#events.push(atMs, { kind: "timer", node: host.id, incarnation, fire });
      },
      scheduleFsync: (host, incarnation, atMs) => {
        this.#events.push(atMs, { kind: "fsync", node: host.id, incarnation });
        if (
          this.faults && atMs > this.nowMs + 1 && this.#prng.chance(this.config.crashInFsyncRate)
        ) {
          const at = this.nowMs + 1 + this.#prng.int(atMs - this.nowMs - 1);
          this.#events.push(at, { kind: "crashNow", node: host.id, incarnation });
        }
      },
      onFatal: (host, _incarnation, error) => this.#onFatal(host, error),
      onConfChange: (host, cc) => this.#onConfChange(host, cc),
      onLeaderCommit: (host, index, term) => this.#checkDurableQuorum(host, index, term),
    };
  }

  #onFatal(host: SimHost, error: unknown): void {
    if (error instanceof InvariantViolation) {
      this.#violation ??= error;
      return;
    }
    const text = error instanceof Error ? error.message : String(error);
    if (host.wiped && /data was lost/.test(text)) {
      this.stats.lostLogStops++;
      this.#wipedVoters.delete(host.id);
      this.#note(host.id, "stopped: its data was lost (lost-log check)");
      this.retired.add(host.id);
      this.clients.abandon(host);
      this.#events.push(this.nowMs + REPAIR_EVERY_MS, { kind: "repair", node: host.id });
      return;
    }
    this.#violation ??= new InvariantViolation(
      "unexpected-fatal",
      `${host.id} stopped on a fatal error: ${text}`,
    );
  }

  /**
   * Commit means durable on a majority: when a leader moves its commit index to
   * `index`, a majority of its voters must hold that entry on disk (synced), the leader
   * included only if its own fsync completed. Entries below a host's snapshot count as
   * held (they are committed and compacted there).
   */
  #checkDurableQuorum(leader: SimHost, index: number, term: number): void {
    const now = leader.node.cluster().members.filter((m) => m.role === "voter").map((m) => m.id);
    // A membership change takes effect when applied, which may be just after the commit
    // it completes was counted: the configuration before it is acceptable too.
    const before = leader.votersBeforeChange ?? now;
    const durableOn = (voters: NodeId[]): number => {
      let n = 0;
      for (const id of voters) {
        const h = this.hosts.get(id);
        if (h === undefined) continue;
        // A wiped disk may have held it when the leader counted it: give it the doubt.
        const t = h.durableTerm(index);
        if (h.wiped || t === term || (t === undefined && h.snapshotIndex() >= index)) n++;
      }
      return n;
    };
    const a = durableOn(now);
    const b = durableOn(before);
    if (2 * a <= now.length && 2 * b <= before.length) {
      throw new InvariantViolation(
        "commit-without-durable-quorum",
        `${leader.id} committed ${index}@${term} while only ${a} of its ${now.length} ` +
          `voters hold it on disk (${
            now.map((id) => `${id}:${this.hosts.get(id)?.durableTerm(index) ?? "-"}`).join(" ")
          }; before: ${before.join(",")})`,
      );
    }
  }

  #send(from: NodeId, to: NodeId, original: SimPacket): void {
    const sender = this.hosts.get(from);
    const packet = this.#holdBack(original);
    if (packet.kind === "msg") this.#observeSent(sender, packet.m);
    else this.stats.snapshotsSent++;
    const term = packet.m.term;
    if (term > this.stats.maxTerm) this.stats.maxTerm = term;
    const envelope = { packet, senderIncarnation: sender?.incarnation ?? 0 };
    const outcome = this.network.send(from, to, envelope, this.nowMs);
    if (outcome !== "queued" && packet.kind === "snap") packet.done(false);
  }

  /**
   * While a hold-back window is open, appends lose the entries of their sender's own
   * term (the new leader's no-op and what follows) and carry only older entries, as when
   * an append split by the size limit loses its second half: the window in which a
   * leader could count an old-term entry's replicas toward commit (figure 8).
   */
  #holdBack(packet: SimPacket): SimPacket {
    if (!this.faults || this.nowMs >= this.#holdBackUntilMs || packet.kind !== "msg") {
      return packet;
    }
    const m = packet.m;
    if (m.type !== MessageType.Append || !m.entries.some((e) => e.term === m.term)) return packet;
    const entries = m.entries.filter((e) => e.term < m.term);
    return { kind: "msg", m: freezeMessage({ ...m, entries }) };
  }

  /** Opens a hold-back window (see `#holdBack`) for a while. */
  holdBackNewTermEntries(): void {
    const ms = this.#prng.pick([50, 200, 1000]);
    this.#holdBackUntilMs = this.nowMs + ms;
    this.#note("net", `appends carry only older-term entries for ${ms}ms`);
  }

  #observeSent(sender: SimHost | undefined, m: Message): void {
    if (isLeaderMessage(m)) this.inv.observeLeader(m.from, m.term);
    if (m.type === MessageType.VoteResponse && !m.reject && sender !== undefined) {
      this.inv.observeVoteGranted(sender.voterKey, m.term, m.to);
      if (sender.mustHaveStopped) {
        throw new InvariantViolation(
          "wiped-voter-voted",
          `${m.from} granted a vote in term ${m.term} after a heartbeat showed its data was lost`,
        );
      }
    }
  }

  /** Drains the microtask queue: everything the last event set off runs now. */
  async settle(): Promise<void> {
    for (let i = 0; i < SETTLE_ROUNDS; i++) await Promise.resolve();
    await this.leases.check(this.hosts.values());
    if (this.#violation !== null) throw this.#violation;
    for (const host of this.hosts.values()) host.observeRole();
  }

  /** Copies the checker's and clients' counters into {@link stats} (end of run). */
  finishStats(): void {
    this.stats.leaderTerms = this.inv.leaderTerms;
    this.stats.writesAcked = this.clients.stats.acked;
    this.stats.readsServed = this.clients.stats.reads;
    this.stats.unknownOutcomes = this.clients.stats.unknown;
    this.stats.writeDeadlines = this.clients.stats.writeDeadlines;
    this.stats.ttlAcked = this.clients.stats.ttlAcked;
    this.stats.leasesGranted = this.leases.stats.granted;
    this.stats.keepalivesAcked = this.leases.stats.keepalivesAcked;
    this.stats.leasesExpired = this.leases.stats.expired;
  }

  /** Hosts that are running, not halted, not retired and not paused. */
  upHosts(): SimHost[] {
    const out: SimHost[] = [];
    for (const h of this.hosts.values()) {
      if (h.up && !this.retired.has(h.id) && !this.#paused.has(h.id)) out.push(h);
    }
    return out;
  }

  /** The running leader with the highest term, if any. */
  leader(): SimHost | null {
    let best: SimHost | null = null;
    let bestTerm = -1;
    for (const h of this.upHosts()) {
      const st = h.node.status();
      // A leader that applied its own removal steps down; it serves nothing meanwhile.
      if (st.role === "leader" && !st.removed && st.term > bestTerm) {
        best = h;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Runs the next timed event or packet arrival; false when nothing is queued. */
  async runNextEvent(): Promise<boolean> {
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
      await this.#handle(ev.value);
    }
    await this.settle();
    return true;
  }

  #arrive(): void {
    const arrival = this.network.pop();
    if (arrival === undefined) return;
    const { payload } = arrival.packet;
    const pause = this.#paused.get(arrival.packet.to);
    if (pause !== undefined && arrival.kind === "delivered") {
      pause.held.push(payload); // sits in the socket buffer until resume
      return;
    }
    this.#deliver(payload, arrival.kind === "delivered");
  }

  #deliver(envelope: Envelope, arrived: boolean): void {
    const { packet } = envelope;
    const m = packet.m;
    const target = this.hosts.get(m.to);
    const transport = target?.transport ?? null;
    const delivered = arrived && target !== undefined && target.up && transport !== null &&
      !transport.closed && !this.retired.has(m.to);
    if (!delivered || target === undefined || transport === null) {
      if (packet.kind === "snap") packet.done(false);
      return;
    }
    this.trace.add({ step: this.step, atMs: this.nowMs, node: m.to, what: m });
    transport.learnPeer(m.from);
    if (packet.kind === "snap") {
      const cut = this.faults && this.#prng.chance(this.config.snapshotCutRate);
      const cutAfter = cut ? this.#prng.int(packet.chunks.length + 1) : null;
      if (cut) this.stats.snapshotsCut++;
      transport.onSnapshot(packet.m, streamChunks(packet.chunks, cutAfter)).then(
        () => packet.done(true),
        () => packet.done(false),
      );
      return;
    }
    if (
      m.type === MessageType.Heartbeat && target.wiped && !target.mustHaveStopped &&
      m.term >= target.node.status().term
    ) {
      // A current leader credits the wiped voter with more than it holds: it must stop.
      const self = target.node.cluster().members.find((x) => x.id === target.id);
      if (self !== undefined && self.matchIndex !== null && m.commit > self.matchIndex) {
        target.mustHaveStopped = true;
      }
    }
    transport.onMessage(m);
    if (target.mustHaveStopped && target.up) {
      throw new InvariantViolation(
        "lost-log-ignored",
        `${target.id}'s data was wiped and leader ${m.from} credits it with index ` +
          `${(m as { commit?: number }).commit}, but it did not stop`,
      );
    }
  }

  async #handle(ev: SimEvent): Promise<void> {
    if (ev.kind === "clientTimeout") {
      this.clients.timeout(ev.op);
      return;
    }
    if (ev.kind === "repair") return this.#repair(ev.node);
    if (ev.kind === "join") return this.#askToJoin(ev.node, ev.role, ev.attempt + 1);
    const host = this.hosts.get(ev.node);
    if (host === undefined) return;
    const pause = this.#paused.get(host.id);
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
        return this.#resume(host);
      case "crashNow":
        if (host.up && host.incarnation === ev.incarnation && host.persisting) {
          this.#crash(host, this.#prng.pick([1, 5, 20]));
        }
        return;
      case "tick":
        if (this.retired.has(host.id)) return; // retired hosts stop ticking for good
        this.#events.push(this.nowMs + TICK_MS, ev);
        host.tick();
        return;
      case "fsync":
        host.fsyncDone(ev.incarnation);
        return;
      case "timer":
        if (host.up && host.incarnation === ev.incarnation) ev.fire();
        return;
      case "restart":
        this.#pendingRestart.delete(host.id);
        await this.#startHost(host);
        return;
      case "stop":
        this.#note(host.id, "retired (removed from membership)");
        this.clients.abandon(host);
        host.crash(0, false);
        this.retired.add(host.id);
        this.#dropConnections(host.id);
        return;
    }
  }

  /**
   * The operator's part after a member stopped on lost data: remove it through the
   * leader (retried until its removal applied), so it no longer counts in quorums.
   */
  #repair(id: NodeId): void {
    const leader = this.leader();
    const member = leader?.node.cluster().members.some((m) => m.id === id) ?? true;
    if (leader !== null && !member) return;
    this.#events.push(this.nowMs + REPAIR_EVERY_MS, { kind: "repair", node: id });
    if (leader === null) return;
    this.#note(leader.id, `operator removes ${id} (its data was lost)`);
    leader.node.removeMember(id, new AbortController().signal).catch(() => {});
  }

  #note(node: string, what: string | (() => string)): void {
    this.trace.add({ step: this.step, atMs: this.nowMs, node, what });
  }

  // ---- client actions -------------------------------------------------------------

  /** A client sends a request to the leader (sometimes to a random host). */
  clientRequest(): void {
    const target = this.#prng.chance(0.85) ? this.leader() : this.#randomUp();
    if (target === null) return;
    if (this.#prng.chance(LEASE_REQUEST_SHARE)) this.leases.issue(target);
    else this.clients.issue(target);
  }

  #randomUp(): SimHost | null {
    const up = this.upHosts();
    return up.length === 0 ? null : this.#prng.pick(up);
  }

  // ---- faults -----------------------------------------------------------------------

  /** Crashes a random host; it restarts after a random downtime. */
  crashOne(): void {
    // Half the time, hit a host in the middle of an fsync: that is when crashes lose data.
    const syncing = this.upHosts().filter((h) => h.persisting);
    const host = syncing.length > 0 && this.#prng.chance(0.5)
      ? this.#prng.pick(syncing)
      : this.#randomUp();
    if (host === null) return;
    this.#crash(host, this.#prng.pick([5, 50, 200, 1000, 3000]));
  }

  /**
   * Kills the leader while it waits for an fsync (when it does): the moment a leader
   * that counted its own unsynced entries toward commit would lose committed ones.
   */
  crashLeaderInFsync(): void {
    const leader = this.leader();
    if (leader === null || !leader.persisting) return;
    this.#crash(leader, this.#prng.pick([1, 20, 200]));
  }

  #crash(host: SimHost, downMs: number): void {
    this.clients.abandon(host);
    host.crash(this.#prng.int(3), this.#prng.chance(0.5));
    this.stats.crashes++;
    this.#dropConnections(host.id);
    this.#pendingRestart.add(host.id);
    this.#events.push(this.nowMs + downMs, { kind: "restart", node: host.id });
  }

  /**
   * Crashes a host and brings it back with an empty data directory. A wiped voter must
   * stop at its first heartbeat (its log is shorter than what it acknowledged). Voters
   * are wiped only with leader leases on and a leader in place, at most
   * {@link MAX_VOTER_WIPES} per run: before that heartbeat a wiped voter can still vote,
   * the hazard the lost-log check only narrows.
   */
  wipeOne(): void {
    const leader = this.leader();
    if (leader === null) return;
    const conf = leader.node.cluster();
    const voters = conf.members.filter((m) => m.role === "voter").map((m) => m.id);
    const candidates = this.upHosts().filter((h) => h !== leader);
    if (candidates.length === 0) return;
    const host = this.#prng.pick(candidates);
    const isVoter = voters.includes(host.id);
    if (isVoter) {
      if (!this.config.checkQuorum || this.#voterWipes >= MAX_VOTER_WIPES) return;
      if (voters.length < 5 && voters.length - 1 < MIN_VOTERS) return;
      this.#voterWipes++;
      this.#wipedVoters.add(host.id);
    } else if (!this.#learnerRole.has(host.id)) {
      return; // a voter-to-be: once promoted, a wiped one would be a second damaged voter
    }
    this.clients.abandon(host);
    host.crash(0, false);
    host.wipe();
    this.stats.wipes++;
    this.#dropConnections(host.id);
    this.#pendingRestart.add(host.id);
    this.#events.push(this.nowMs + this.#prng.pick([5, 50, 200]), {
      kind: "restart",
      node: host.id,
    });
  }

  /** A dead host's connections die with it. */
  #dropConnections(id: NodeId): void {
    for (const p of this.network.dropInvolving(id)) {
      if (p.payload.packet.kind === "snap") p.payload.packet.done(false);
    }
  }

  /** Freezes a host (the leader half of the time) without losing state (a GC pause). */
  pauseOne(): void {
    const leader = this.leader();
    const host = leader !== null && this.#prng.chance(0.5) ? leader : this.#randomUp();
    if (host === null) return;
    const untilMs = this.nowMs + this.#prng.pick([30, 100, 300, 1000]);
    this.#paused.set(host.id, { untilMs, missedTicks: 0, held: [] });
    this.stats.pauses++;
    this.#note(host.id, `PAUSE until ${untilMs}ms`);
    this.#events.push(untilMs, { kind: "resume", node: host.id });
  }

  #resume(host: SimHost): void {
    const pause = this.#paused.get(host.id);
    if (pause === undefined) return;
    this.#paused.delete(host.id);
    this.#note(
      host.id,
      `RESUME after ${pause.missedTicks} missed ticks, ${pause.held.length} held`,
    );
    for (let i = 0; i < pause.missedTicks && host.up; i++) host.tick();
    for (const envelope of pause.held) this.#deliver(envelope, true);
  }

  /** Resumes every paused host now (final phase). */
  resumeAll(): void {
    for (const id of [...this.#paused.keys()]) {
      const host = this.hosts.get(id);
      if (host !== undefined) this.#resume(host);
    }
  }

  /** Restarts every crashed, non-retired host now (final phase). */
  async restartAll(): Promise<void> {
    for (const h of this.hosts.values()) {
      if (!h.running && !this.retired.has(h.id) && !h.removedForGood && this.#mayStart(h)) {
        this.#pendingRestart.delete(h.id);
        await this.#startHost(h);
      }
    }
    await this.settle();
  }

  /** Cuts the network in one of several shapes. */
  partition(): void {
    const ids = [...this.hosts.keys()].filter((id) => !this.retired.has(id));
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

  /** Asks a random host to snapshot now (the admin endpoint). */
  compactOne(): void {
    const host = this.#randomUp();
    if (host === null) return;
    this.stats.compactions++;
    host.node.snapshot().catch(() => {});
  }

  /** Asks the leader to hand leadership to a random voter (the admin endpoint). */
  transferLeadership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const voters = leader.node.cluster().members.filter((m) => m.role === "voter")
      .map((m) => m.id).filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = this.#prng.pick(voters);
    this.stats.transfers++;
    this.#note(leader.id, `transfer leadership to ${to}`);
    leader.node.transferLeader(to, new AbortController().signal).then(
      () => this.#note(leader.id, `transfer to ${to} done`),
      (e) => this.#note(leader.id, `transfer to ${to}: ${String(e)}`),
    );
  }

  /** One membership change through the leader's admin API: join, promote or remove. */
  changeMembership(): void {
    const leader = this.leader();
    if (leader === null) return;
    const members = leader.node.cluster().members;
    const voters = members.filter((m) => m.role === "voter").map((m) => m.id);
    const learners = members.filter((m) => m.role === "learner").map((m) => m.id);
    const live = [...this.hosts.keys()].filter((id) => !this.retired.has(id)).length;
    const options: string[] = [];
    if (this.config.joiners && live < MAX_HOSTS) options.push("joinLearner", "joinVoter");
    if (learners.length > 0 && voters.length < MAX_VOTERS) options.push("promote");
    if (voters.length > MIN_VOTERS || learners.length > 0) options.push("remove");
    if (options.length === 0) return;
    const choice = this.#prng.pick(options);
    const signal = new AbortController().signal;
    const report = (what: string) => (e?: unknown) =>
      this.#note(leader.id, `${what}: ${e === undefined ? "done" : String(e)}`);
    if (choice === "joinLearner" || choice === "joinVoter") {
      const id = this.#newId();
      const role = choice === "joinVoter" ? "voter" : "learner";
      this.#addHost(
        id,
        null,
        drawHostOptions(this.#prng, this.config.hosts[0]?.tornWrites ?? false),
      );
      this.#joinLater(id, role, this.#prng.pick([0, 0, 50, 500, 3000]));
    } else if (choice === "promote") {
      const id = this.#prng.pick(learners);
      this.#learnerRole.delete(id);
      leader.node.promote(id, signal).then(report(`promote ${id}`), report(`promote ${id}`));
    } else {
      const pool = voters.length > MIN_VOTERS ? [...voters, ...learners] : learners;
      const id = this.#prng.pick(pool);
      const removing = leader.node.removeMember(id, signal);
      removing.then(report(`remove ${id}`), report(`remove ${id}`));
      if (id === leader.id) {
        // The operator stops a leader that removed itself on the call's answer, whatever
        // it says (the answer comes once it stepped down, or at its deadline).
        this.#selfRemoving.add(id);
        removing.catch(() => {}).finally(() => {
          this.#selfRemoving.delete(id);
          const host = this.hosts.get(id);
          if (host?.running && host.node.status().removed && !this.retired.has(id)) {
            this.#stopSoon(id);
          }
        });
      }
    }
    this.stats.confChanges++;
  }

  /**
   * Asks the leader to add `id` (as --join does), and starts its process after
   * `startAfterMs`: a voter-to-be is promoted only once it has replicated entries.
   */
  #joinLater(id: NodeId, role: "voter" | "learner", startAfterMs: number): void {
    this.#note("net", `${id} asks to join as ${role} (starts in ${startAfterMs}ms)`);
    if (role === "learner") this.#learnerRole.add(id);
    this.#pendingRestart.add(id);
    this.#events.push(this.nowMs + startAfterMs, { kind: "restart", node: id });
    this.#askToJoin(id, role, 1);
  }

  /**
   * As `--join` does: asks the leader to add `id`, retrying (up to
   * {@link MAX_JOIN_ATTEMPTS} times) while there is no leader, the leader is too new or
   * another change is in progress.
   */
  #askToJoin(id: NodeId, role: "voter" | "learner", attempt: number): void {
    if (this.retired.has(id)) return;
    const retry = () => {
      if (attempt >= MAX_JOIN_ATTEMPTS) return;
      this.#events.push(this.nowMs + JOIN_RETRY_MS, { kind: "join", node: id, role, attempt });
    };
    const leader = this.leader();
    if (leader === null) return retry();
    const addr = simAddress(id);
    const request = { id, peerAddr: addr.peerAddr, httpUrl: addr.httpUrl ?? "", role };
    leader.node.addMember(request, new AbortController().signal).then(
      () => this.#note(leader.id, `added ${id} as ${role}`),
      (e) => {
        this.#note(leader.id, `add ${id}: ${String(e)}`);
        if (e instanceof RaftkvError && (e.code === "unavailable" || e.code === "conflict")) {
          if (!/already a member/.test(e.message)) retry();
        }
      },
    );
  }

  #onConfChange(host: SimHost, cc: ConfChange): void {
    if (cc.type === "promote") {
      const promoted = this.hosts.get(cc.nodeId);
      if (promoted !== undefined && !promoted.everReached) {
        this.#violation ??= new InvariantViolation(
          "promoted-unreached-learner",
          `${cc.nodeId} became a voter (applied on ${host.id}) before it replicated anything`,
        );
      }
    }
    if (cc.type !== "remove" || cc.nodeId !== host.id || this.retired.has(host.id)) return;
    // A leader that removed itself is stopped once the operator's remove call answers
    // (see changeMembership): before, its followers may not know the removal committed.
    if (this.#selfRemoving.has(host.id)) return;
    this.#stopSoon(host.id);
  }

  /** Applied its own removal: it keeps running a little, as a real one would, serving nothing. */
  #stopSoon(id: NodeId): void {
    this.#events.push(this.nowMs + this.#prng.pick([0, 20, 200]), { kind: "stop", node: id });
  }

  /** Members (by the leader's view) that are up, for the final checks. */
  liveMembers(leader: SimHost): SimHost[] {
    const out: SimHost[] = [];
    for (const m of leader.node.cluster().members) {
      const h = this.hosts.get(m.id);
      if (h !== undefined && h.up && !this.retired.has(m.id) && !h.node.status().removed) {
        out.push(h);
      }
    }
    return out;
  }

  /** True when a crashed host is waiting for its restart. */
  get restartsPending(): boolean {
    return this.#pendingRestart.size > 0;
  }
}

/** Messages only a leader of `m.term` may send. */
function isLeaderMessage(m: Message): boolean {
  return m.type === MessageType.Append || m.type === MessageType.Heartbeat ||
    m.type === MessageType.Snapshot || m.type === MessageType.TimeoutNow;
}
