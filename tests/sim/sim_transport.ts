/**
 * The simulator's transport: implements the node's {@link Transport} over the simulated
 * {@link Network}, so every message and snapshot stream is subject to the run's delays,
 * drops, reordering and partitions. A snapshot travels as one packet holding all its
 * chunks; the receiver may see the stream cut part-way (a connection reset), and the
 * sender's promise settles once the receiver stored it or the stream failed.
 *
 * @module
 */

import type { Message, NodeId, SnapshotMessage } from "../../src/raft/messages.ts";
import { MessageType } from "../../src/raft/messages.ts";
import { newStats, type Transport, type TransportStats } from "../../src/transport/transport.ts";

/** What travels between simulated transports. */
export type SimPacket =
  | { kind: "msg"; m: Message }
  | {
    kind: "snap";
    m: SnapshotMessage;
    chunks: Uint8Array[];
    /** Settles the sender's `sendSnapshot` (true: the receiver stored it). */
    done: (ok: boolean) => void;
  };

/** Puts a packet from this transport's host on the simulated network. */
export type SimWire = (from: NodeId, to: NodeId, packet: SimPacket) => void;

/** One incarnation's endpoint; closed when its process crashes. */
export class SimTransport implements Transport {
  /** Called for every inbound Raft message. */
  onMessage: (m: Message) => void = () => {};
  /** Called for every inbound snapshot. */
  onSnapshot: (m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>) => Promise<void> = () =>
    Promise.reject(new Error("no snapshot handler"));
  /**
   * Unused: simulated members carry their HTTP URLs in their addresses from the start
   * (as with `@http://…` in --initial-cluster); `learnPeer` models the handshake's
   * answering of peers that connected first.
   */
  onPeerHttpUrl: (id: NodeId, httpUrl: string) => void = () => {};
  /** Unused: faults come from the simulated network. */
  filter: ((from: NodeId, to: NodeId) => boolean) | null = null;
  readonly #id: NodeId;
  readonly #wire: SimWire;
  readonly #stats = newStats();
  #peers: ReadonlySet<NodeId> = new Set();
  readonly #learned = new Set<NodeId>();
  #closed = false;

  /** An endpoint for `id` sending through `wire`. */
  constructor(id: NodeId, wire: SimWire) {
    this.#id = id;
    this.#wire = wire;
  }

  /** True once the process behind it died or stopped. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Nothing to listen on. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  /** Sends to a known peer; unknown peers (no address yet) are dropped, as over TCP. */
  send(m: Message): void {
    if (this.#closed || !this.#peers.has(m.to)) {
      this.#stats.dropped++;
      return;
    }
    this.#stats.sent++;
    this.#wire(this.#id, m.to, { kind: "msg", m: freezeMessage(m) });
  }

  /** The peers this node has addresses for. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.#peers = new Set([...peers.keys(), ...this.#learned]);
  }

  /**
   * A peer connected to this node: it can be answered from now on, as the peer
   * handshake makes members learn each other's addresses (issue 16, part 5). Without
   * it a member that missed a joiner's membership entry could never answer the joiner
   * once it leads.
   */
  learnPeer(id: NodeId): void {
    if (this.#peers.has(id)) return;
    this.#learned.add(id);
    this.#peers = new Set([...this.#peers, id]);
  }

  /** Streams a snapshot; settles when the receiver stored it or the stream broke. */
  async sendSnapshot(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const collected: Uint8Array[] = [];
    for await (const c of chunks) collected.push(Uint8Array.from(c));
    if (this.#closed || !this.#peers.has(m.to)) throw new Error(`no connection to ${m.to}`);
    const ok = await new Promise<boolean>((done) => {
      this.#wire(this.#id, m.to, { kind: "snap", m: freezeMessage(m), chunks: collected, done });
    });
    if (!ok) throw new Error(`snapshot stream to ${m.to} broke`);
  }

  /** Counters (only sends and drops are tracked). */
  stats(): TransportStats {
    return { ...this.#stats };
  }

  /** Stops sending and receiving. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/** The chunks of a snapshot packet, cut after `cutAfter` chunks when not null. */
export async function* streamChunks(
  chunks: readonly Uint8Array[],
  cutAfter: number | null,
): AsyncIterable<Uint8Array> {
  for (let i = 0; i < chunks.length; i++) {
    if (cutAfter !== null && i >= cutAfter) throw new Error("snapshot stream cut mid-transfer");
    yield chunks[i] as Uint8Array;
  }
  if (cutAfter !== null) throw new Error("snapshot stream cut before its end");
}

/** Freezes a message and what it references: duplicates share the object. */
export function freezeMessage<M extends Message>(m: M): M {
  if (Object.isFrozen(m)) return m;
  if (m.type === MessageType.Append) {
    for (const e of m.entries) Object.freeze(e);
    Object.freeze(m.entries);
  } else if (m.type === MessageType.Snapshot) {
    Object.freeze(m.snapshot.conf.voters);
    Object.freeze(m.snapshot.conf.learners);
    Object.freeze(m.snapshot.conf);
    Object.freeze(m.snapshot);
  }
  return Object.freeze(m);
}
