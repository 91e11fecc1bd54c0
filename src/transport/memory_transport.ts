/**
 * The in-memory twin of the TCP transport for tests: same {@link Transport} interface,
 * same validation (every message is encoded to its wire form at send and decoded and
 * checked at delivery, so nodes never share objects), asynchronous in-order delivery,
 * and fault hooks (per-transport `filter`, network-wide `MemoryNetwork.filter`).
 *
 * @module
 */

import { assert } from "../assert.ts";
import { type Message, MessageType, type NodeId, type SnapshotMessage } from "../raft/messages.ts";
import { bump, copyStats, newStats, type Transport, type TransportStats } from "./transport.ts";
import { decodeMessage, encodeMessage } from "./wire.ts";

/** Most deliveries waiting in a network; beyond it the oldest are dropped (like a full queue). */
export const MAX_MEMORY_BACKLOG = 1_000_000;

interface Delivery {
  from: MemoryTransport;
  to: NodeId;
  bytes: Uint8Array;
}

/** A set of in-memory transports that can reach one another by node id. */
export class MemoryNetwork {
  /** Network-wide fault filter (e.g. a partition); null delivers everything. */
  filter: ((from: NodeId, to: NodeId) => boolean) | null = null;
  readonly #nodes = new Map<NodeId, MemoryTransport>();
  #backlog: Delivery[] = [];
  #scheduled = false;

  /** A new transport for `id`; replaces a closed one of the same id (a restart). */
  transport(id: NodeId): MemoryTransport {
    return new MemoryTransport(this, id);
  }

  /** Ids of the started, not closed transports. */
  members(): NodeId[] {
    return [...this.#nodes.keys()];
  }

  /** @internal */
  register(t: MemoryTransport): void {
    const existing = this.#nodes.get(t.id);
    assert(existing === undefined || existing === t, `node ${t.id} is already running`);
    this.#nodes.set(t.id, t);
  }

  /** @internal */
  unregister(t: MemoryTransport): void {
    if (this.#nodes.get(t.id) === t) this.#nodes.delete(t.id);
  }

  /** @internal */
  lookup(id: NodeId): MemoryTransport | undefined {
    return this.#nodes.get(id);
  }

  /** @internal Whether the network filter lets `from` → `to` through. */
  allows(from: NodeId, to: NodeId): boolean {
    return this.filter === null || this.filter(from, to);
  }

  /** @internal Queues one encoded message; delivered in order, after the caller returns. */
  enqueue(d: Delivery): boolean {
    let dropped = false;
    if (this.#backlog.length >= MAX_MEMORY_BACKLOG) {
      this.#backlog.shift();
      dropped = true;
    }
    this.#backlog.push(d);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return dropped;
  }

  /** Delivers what was queued before this flush; later sends wait for the next one. */
  #flush(): void {
    const batch = this.#backlog;
    this.#backlog = [];
    this.#scheduled = false;
    for (const d of batch) {
      const target = this.#nodes.get(d.to);
      if (target === undefined || !this.allows(d.from.id, d.to)) {
        d.from.noteLost();
        continue;
      }
      try {
        target.receive(d.bytes);
      } catch (e) {
        // A throwing handler is a bug in the node under test: finish this batch so other
        // nodes are not starved, then surface the error as an uncaught exception.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}

/** One node's endpoint on a {@link MemoryNetwork}. */
export class MemoryTransport implements Transport {
  /** Called for every valid inbound Raft message. */
  onMessage: (m: Message) => void = () => {};
  /** Called for every inbound snapshot; must store the chunks before resolving. */
  onSnapshot: (m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>) => Promise<void> = () =>
    Promise.reject(new Error("no snapshot handler installed"));
  /** Never called: memory nodes have no HTTP URL to announce. */
  onPeerHttpUrl: (id: NodeId, httpUrl: string) => void = () => {};
  /** Test fault hook, applied to messages this node sends and receives. */
  filter: ((from: NodeId, to: NodeId) => boolean) | null = null;

  readonly #stats = newStats();
  #peers: ReadonlySet<NodeId> | null = null;
  #state: "new" | "started" | "closed" = "new";

  /** Use {@link MemoryNetwork.transport}. */
  constructor(private readonly network: MemoryNetwork, readonly id: NodeId) {}

  /** Joins the network. */
  start(): Promise<void> {
    assert(this.#state === "new", "start once");
    this.network.register(this);
    this.#state = "started";
    return Promise.resolve();
  }

  /** Queues `m` for asynchronous delivery; drops (counted) when unknown, filtered or closed. */
  send(m: Message): void {
    if (!this.#passes(m.from, m.to)) return;
    const known = this.#peers === null || this.#peers.has(m.to);
    if (this.#state !== "started" || !known || this.network.lookup(m.to) === undefined) {
      this.#stats.droppedUnknownPeer++;
      bump(this.#stats.droppedByPeer, m.to);
      this.#stats.dropped++;
      return;
    }
    const bytes = Uint8Array.prototype.slice.call(encodeMessage(m));
    this.#stats.sent++;
    this.#stats.bytesSent += bytes.length;
    if (this.network.enqueue({ from: this, to: m.to, bytes })) this.noteLost();
  }

  /**
   * Records the peer ids; once called, messages to other ids are dropped. Addresses are
   * ignored. Before the first call every registered node is reachable.
   */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.#peers = new Set(peers.keys());
  }

  /** Hands a copy of the snapshot to the receiver's `onSnapshot` and waits for it. */
  async sendSnapshot(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (!this.#passes(m.from, m.to) || !this.network.allows(m.from, m.to)) {
      throw new Error(`snapshot to ${m.to} dropped by the fault filter`);
    }
    const target = this.network.lookup(m.to);
    if (this.#state !== "started" || target === undefined) {
      throw new Error(`peer ${m.to} is unreachable`);
    }
    const copies: Uint8Array[] = [];
    for await (const c of chunks) copies.push(c.slice());
    const bytes = Uint8Array.prototype.slice.call(encodeMessage(m));
    await target.receiveSnapshot(bytes, copies);
    this.#stats.snapshotsSent++;
  }

  /** A snapshot of the counters. */
  stats(): TransportStats {
    return copyStats(this.#stats);
  }

  /** Leaves the network; later deliveries to this node are dropped. */
  close(): Promise<void> {
    this.#state = "closed";
    this.network.unregister(this);
    return Promise.resolve();
  }

  #passes(from: NodeId, to: NodeId): boolean {
    if (this.filter === null || this.filter(from, to)) return true;
    this.#stats.droppedFiltered++;
    this.#stats.dropped++;
    return false;
  }

  /** @internal A queued message could not be delivered. */
  noteLost(): void {
    this.#stats.dropped++;
  }

  /** @internal Validates and delivers one message. */
  receive(bytes: Uint8Array): void {
    const parsed = decodeMessage(bytes);
    if (!parsed.ok) {
      bump(this.#stats.rejected, parsed.reason);
      return;
    }
    const m = parsed.value;
    if (!this.#passes(m.from, m.to)) return;
    this.#stats.received++;
    this.#stats.bytesReceived += bytes.length;
    this.onMessage(m);
  }

  /** @internal Validates a snapshot message and streams its chunks to `onSnapshot`. */
  async receiveSnapshot(bytes: Uint8Array, chunks: Uint8Array[]): Promise<void> {
    const parsed = decodeMessage(bytes);
    assert(
      parsed.ok && parsed.value.type === MessageType.Snapshot,
      "sender encoded a valid snapshot message",
    );
    const m = parsed.value;
    if (!this.#passes(m.from, m.to)) {
      throw new Error(`snapshot from ${m.from} dropped by the fault filter`);
    }
    await this.onSnapshot(m, iterate(chunks));
    this.#stats.snapshotsReceived++;
  }
}

async function* iterate(chunks: Uint8Array[]): AsyncGenerator<Uint8Array, void, undefined> {
  for (const c of chunks) {
    yield await Promise.resolve(c);
  }
}
