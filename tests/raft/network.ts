/**
 * A deterministic in-memory network of Raft cores for scenario tests: each node has a
 * MemoryStableLog as its "disk"; `settle()` pumps Ready/advance and delivers messages
 * in FIFO order until nothing moves. Links can be cut one way or both.
 *
 * @module
 */

import { Raft, type RaftConfig } from "../../src/raft/raft.ts";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { encodeConfChange } from "../../src/raft/conf_change_codec.ts";
import {
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  type ReadState,
  type Ready,
} from "../../src/raft/messages.ts";

/** Bound on pump rounds in one settle(), so a livelock fails the test instead of hanging. */
export const MAX_SETTLE_ROUNDS = 10_000;

/** One simulated node: its core, its durable log and what it applied. */
export interface TestNode {
  raft: Raft;
  log: MemoryStableLog;
  applied: Entry[];
  readStates: ReadState[];
  /** Index of the last snapshot installed through a Ready (0 if none). */
  snapshotIndex: number;
}

/** Options for building a network. */
export interface NetworkOptions {
  voters: NodeId[];
  learners?: NodeId[];
  config?: Partial<Omit<RaftConfig, "id" | "log">>;
  /** Pre-built logs (for figure 7/8 style scenarios). */
  logs?: Record<NodeId, MemoryStableLog>;
  /**
   * Where the founding membership lives: in the index-0 snapshot meta (default), or in
   * the log as committed addVoter entries 1..n as the node driver bootstraps.
   */
  bootstrap?: "snapshot" | "log";
}

/** The node driver's bootstrap: addVoter entries 1..n (term 1), committed. */
export function bootstrapLog(voters: NodeId[]): MemoryStableLog {
  const log = new MemoryStableLog();
  const ids = [...voters].sort();
  log.append(ids.map((nodeId, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: "addVoter", nodeId, context: "" }),
  })));
  log.setHardState({ term: 1, vote: null, commit: ids.length });
  return log;
}

/** A deterministic message pump over a set of cores. */
export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Directed links that drop everything: "a->b". */
  readonly cut = new Set<string>();
  /** Nodes that are down: they neither tick nor receive. */
  readonly down = new Set<NodeId>();
  /** Every message handed to the network (for assertions). */
  readonly sent: Message[] = [];
  /** Optional extra filter: return true to drop a message. */
  drop: (m: Message) => boolean = () => false;
  /** Optional rewrite of a message in flight (return the message to deliver). */
  rewrite: (m: Message) => Message = (m) => m;
  /** Report shipped snapshots back to the sender, as a host does once bytes are stored. */
  autoReportSnapshot = true;
  private queue: Message[] = [];
  private readonly config: Partial<Omit<RaftConfig, "id" | "log">>;

  /** Builds nodes for every voter and learner. */
  constructor(opts: NetworkOptions) {
    this.config = opts.config ?? {};
    const conf = { voters: opts.voters, learners: opts.learners ?? [] };
    let seed = 1;
    const fromLog = opts.bootstrap === "log";
    for (const id of [...opts.voters, ...(opts.learners ?? [])]) {
      const log = opts.logs?.[id] ??
        (fromLog ? bootstrapLog(opts.voters) : new MemoryStableLog({ conf }));
      this.addNode(id, log, seed++);
    }
    if (fromLog) this.settle(); // hand out and apply the bootstrap entries
  }

  /** Adds (or restarts) a node over `log`. */
  addNode(id: NodeId, log: MemoryStableLog, seed: number, applied?: number): TestNode {
    const config: RaftConfig = { ...this.config, id, log, seed };
    if (applied !== undefined) config.applied = applied;
    const node: TestNode = {
      raft: new Raft(config),
      log,
      applied: [],
      readStates: [],
      snapshotIndex: 0,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** Restarts `id` from its durable log, as after a crash (unapplied work replays). */
  restart(id: NodeId, seed = 99): TestNode {
    const old = this.node(id);
    const appliedIndex = old.applied.at(-1)?.index ?? old.snapshotIndex;
    const node = this.addNode(id, old.log, seed, appliedIndex);
    node.applied = old.applied;
    node.snapshotIndex = old.snapshotIndex;
    return node;
  }

  /** The node `id` (throws if unknown). */
  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Core of node `id`. */
  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  /** Cuts both directions between `a` and `b`. */
  partition(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}->${b}`);
    this.cut.add(`${b}->${a}`);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.partition(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  /** Processes one Ready of `node` like a host would; returns whether it did anything. */
  private pump(id: NodeId, node: TestNode): boolean {
    if (this.down.has(id) || !node.raft.hasReady()) return false;
    const rd: Ready = node.raft.ready();
    this.enqueue(rd.messages);
    if (rd.snapshot) {
      node.log.applySnapshot(rd.snapshot);
      node.snapshotIndex = rd.snapshot.index;
    }
    node.log.append(rd.entries);
    if (rd.hardState) node.log.setHardState(rd.hardState);
    this.enqueue(rd.messagesAfterPersist);
    for (const e of rd.committedEntries) node.applied.push(e);
    for (const r of rd.readStates) node.readStates.push(r);
    node.raft.advance(rd);
    return true;
  }

  private enqueue(ms: Message[]): void {
    for (const m of ms) {
      this.sent.push(m);
      this.queue.push(m);
    }
  }

  /** Delivers queued messages; returns whether any was delivered. */
  private deliver(): boolean {
    const batch = this.queue;
    this.queue = [];
    let any = false;
    for (const m of batch) {
      if (this.cut.has(`${m.from}->${m.to}`) || this.down.has(m.to) || this.drop(m)) continue;
      const target = this.nodes.get(m.to);
      if (!target) continue;
      target.raft.step(this.rewrite(m));
      if (m.type === MessageType.Snapshot && this.autoReportSnapshot) {
        this.nodes.get(m.from)?.raft.reportSnapshot(m.to, true);
      }
      any = true;
    }
    return any;
  }

  /** Pumps readies and messages until quiescent. */
  settle(): void {
    for (let round = 0; round < MAX_SETTLE_ROUNDS; round++) {
      let moved = false;
      for (const [id, node] of this.nodes) moved = this.pump(id, node) || moved;
      moved = this.deliver() || moved;
      if (!moved) return;
    }
    throw new Error("network did not settle");
  }

  /** Ticks every live node `n` times, settling after each tick. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) if (!this.down.has(id)) node.raft.tick();
      this.settle();
    }
  }

  /** Ticks until `cond()` holds, failing after `maxTicks`. */
  tickUntil(cond: () => boolean, maxTicks = 500): void {
    for (let i = 0; i < maxTicks; i++) {
      if (cond()) return;
      this.tick();
    }
    if (!cond()) throw new Error(`condition not reached within ${maxTicks} ticks`);
  }

  /** Ids of live nodes that believe they lead, at the highest term. */
  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, n] of this.nodes) {
      if (!this.down.has(id) && n.raft.status().role === "leader") out.push(id);
    }
    return out;
  }

  /** The single live leader; throws when there is none or several. */
  leader(): NodeId {
    const ls = this.leaders();
    if (ls.length !== 1) throw new Error(`expected one leader, got [${ls.join(",")}]`);
    return ls[0] as NodeId;
  }

  /**
   * Elects `id` by forcing its campaign (an injected TimeoutNow, which skips pre-vote
   * and voters' leases, e.g. a restarted node's startup lease), then settles.
   */
  elect(id: NodeId): void {
    const r = this.raft(id);
    r.step({ type: MessageType.TimeoutNow, from: "test", to: id, term: r.status().term });
    this.settle();
  }

  /** Data of the Normal non-empty entries `id` applied, decoded as text. */
  appliedText(id: NodeId): string[] {
    const dec = new TextDecoder();
    return this.node(id).applied.filter((e) => e.type === 0 && e.data.byteLength > 0).map((e) =>
      dec.decode(e.data)
    );
  }
}

/** Encodes a string as proposal data. */
export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
