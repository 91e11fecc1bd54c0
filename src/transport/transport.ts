/**
 * The peer transport contract the node drives, with one TCP implementation
 * (`tcp_transport.ts`) and one in-memory twin for tests (`memory_transport.ts`).
 *
 * @module
 */

import type { Message, NodeId, SnapshotMessage } from "../raft/messages.ts";

/** Counters a transport keeps; every field only grows (except `queued`). */
export interface TransportStats {
  /** Raft messages handed to the network (written to a socket / delivered in memory). */
  sent: number;
  /** Valid Raft messages handed to `onMessage`. */
  received: number;
  /** Messages dropped for any reason (sum of the three below plus lost writes). */
  dropped: number;
  /** Oldest messages dropped because a peer's send queue was full. */
  droppedQueueFull: number;
  /** Messages dropped before sending, by the peer they were for. */
  droppedByPeer: Record<string, number>;
  /** Messages for a peer with no known address (or no registered memory node). */
  droppedUnknownPeer: number;
  /** Messages refused by the test fault filter, either direction. */
  droppedFiltered: number;
  /** Messages currently waiting in send queues. */
  queued: number;
  /** Connections closed because of bad input or a failed handshake, by reason. */
  rejected: Record<string, number>;
  /** Outbound handshakes that failed (refused by the peer or peer not proven), by reason. */
  handshakeFailures: Record<string, number>;
  /** Snapshots acknowledged by their receiver. */
  snapshotsSent: number;
  /** Snapshots stored and acknowledged here. */
  snapshotsReceived: number;
  /** Bytes written to peers, framing included. */
  bytesSent: number;
  /** Bytes read from peers, framing included. */
  bytesReceived: number;
}

/** A fresh set of zeroed counters. */
export function newStats(): TransportStats {
  return {
    sent: 0,
    received: 0,
    dropped: 0,
    droppedQueueFull: 0,
    droppedByPeer: {},
    droppedUnknownPeer: 0,
    droppedFiltered: 0,
    queued: 0,
    rejected: {},
    handshakeFailures: {},
    snapshotsSent: 0,
    snapshotsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
  };
}

/** A copy of `s` the caller may keep. */
export function copyStats(s: TransportStats): TransportStats {
  return {
    ...s,
    droppedByPeer: { ...s.droppedByPeer },
    rejected: { ...s.rejected },
    handshakeFailures: { ...s.handshakeFailures },
  };
}

/** Adds one to `counters[key]`. */
export function bump(counters: Record<string, number>, key: string): void {
  counters[key] = (counters[key] ?? 0) + 1;
}

/** Structured log sink shared by the transports. */
export type TransportLog = (
  level: "info" | "warn" | "error",
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** Moves Raft messages and snapshots between nodes. */
export interface Transport {
  /** Start listening (TCP) / registering (memory). */
  start(): Promise<void>;
  /** Queue a message; never blocks, never throws for an unknown/unreachable peer (counts a drop). */
  send(m: Message): void;
  /** Replace the set of known peers (id -> "host:port"); connections to removed peers close. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void;
  /**
   * Stream a snapshot's bytes plus its message on the snapshot channel; resolves when the
   * receiver acknowledged storing it; rejects on failure.
   */
  sendSnapshot(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** Called for every valid inbound Raft message. */
  onMessage: (m: Message) => void;
  /**
   * Called when a snapshot arrives: store the chunks; when the returned promise resolves
   * the sender is acked (then the host steps m into the core).
   */
  onSnapshot: (m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>) => Promise<void>;
  /**
   * Called when a peer announces its advertised HTTP URL (validated; authenticated when a
   * secret is set); the host records it for forwarding. Transports without HTTP never call it.
   */
  onPeerHttpUrl: (id: NodeId, httpUrl: string) => void;
  /**
   * Test-only fault hook: when set, messages for which it returns false are dropped (both
   * directions). Disabled (null) by default.
   */
  filter: ((from: NodeId, to: NodeId) => boolean) | null;
  /** sent, received, dropped (queue full), rejected connections by reason, bytes. */
  stats(): TransportStats;
  /** Closes every listener and connection; pending snapshot sends reject. */
  close(): Promise<void>;
}
