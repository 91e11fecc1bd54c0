/**
 * The production transport: one outbound Raft connection per peer (see `peer_link.ts`),
 * one short-lived connection per snapshot, and a listener whose inbound sessions
 * validate everything before it reaches the host (see `inbound.ts`).
 *
 * @module
 */

import { assert } from "../assert.ts";
import type { Message, NodeId, SnapshotMessage } from "../raft/messages.ts";
import { dial } from "./dial.ts";
import { MAX_FRAME_BYTES, MIN_FRAME_BYTES } from "./frame.ts";
import { type FramedConn, parseHostPort } from "./framed_conn.ts";
import { HandshakeKey, isHttpBaseUrl } from "./handshake.ts";
import { addrOf, type InboundHost, serveInbound } from "./inbound.ts";
import { limitedLog } from "./log_limiter.ts";
import { type LinkHost, PeerLink } from "./peer_link.ts";
import { MAX_SEND_QUEUE } from "./send_queue.ts";
import { sendSnapshotOver } from "./snapshot_channel.ts";
import {
  bump,
  copyStats,
  newStats,
  type Transport,
  type TransportLog,
  type TransportStats,
} from "./transport.ts";

/** Most inbound connections served at once; more are closed at accept. */
export const MAX_INBOUND_CONNECTIONS = 256;
/** Pause after a failed accept before trying again. */
const ACCEPT_RETRY_MS = 100;

/** Options of {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** This node's id. */
  id: NodeId;
  /** Peers must present the same cluster id. */
  clusterId: string;
  /** Where to listen, "host:port"; port 0 picks a free port (see `listenAddr`). */
  listenAddr: string;
  /** Shared secret: when set, both sides of every connection prove they know it. */
  secret?: string;
  /**
   * This node's advertised HTTP URL, announced to peers in the handshake so they can
   * forward to it; one that is not a usable base URL (e.g. a 0.0.0.0 host) is not sent.
   */
  httpUrl?: string;
  /** Largest frame accepted or sent; default {@link MAX_FRAME_BYTES}. */
  maxFrameBytes?: number;
  /** Most messages queued per peer; default {@link MAX_SEND_QUEUE}. */
  maxSendQueue?: number;
  /** Log sink; silent by default. */
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /**
   * TLS for every peer connection, both ways: this node's certificate and key, and the
   * CA certificates peers must chain to (all PEM). A plaintext peer cannot connect.
   */
  tls?: { cert: string; key: string; caCerts: string[] };
}

/** Raft messages and snapshots over TCP with length-prefixed CBOR frames. */
export class TcpTransport implements Transport {
  /** Called for every valid inbound Raft message. */
  onMessage: (m: Message) => void = () => {};
  /** Called for every inbound snapshot; must store the chunks before resolving. */
  onSnapshot: (m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>) => Promise<void> = () =>
    Promise.reject(new Error("no snapshot handler installed"));
  /** Called when a peer announces its HTTP URL in a handshake (each connection). */
  onPeerHttpUrl: (id: NodeId, httpUrl: string) => void = () => {};
  /** Test-only fault hook; null (disabled) by default. */
  filter: ((from: NodeId, to: NodeId) => boolean) | null = null;

  readonly #id: NodeId;
  readonly #requestedAddr: string;
  readonly #stats: TransportStats = newStats();
  readonly #log: TransportLog;
  readonly #linkHost: LinkHost;
  readonly #inboundHost: InboundHost;
  readonly #links = new Map<NodeId, PeerLink>();
  readonly #peers = new Map<NodeId, string>();
  readonly #snapshotConns = new Set<FramedConn>();
  readonly #inbound = new Map<Promise<void>, Deno.Conn>();
  /** Inbound connections still in their handshake, oldest first (Set keeps insertion order). */
  readonly #handshaking = new Set<Deno.Conn>();
  #listener: Deno.TcpListener | Deno.TlsListener | null = null;
  readonly #tls: { cert: string; key: string } | null;
  #acceptLoop: Promise<void> | null = null;
  #listenAddr = "";
  #closing = false;
  /** Aborts snapshot dials in progress when the transport closes. */
  readonly #abort = new AbortController();

  /** Configures the transport; nothing happens on the network until {@link start} / {@link setPeers}. */
  constructor(opts: TcpTransportOptions) {
    const maxFrameBytes = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
    assert(
      Number.isSafeInteger(maxFrameBytes) && maxFrameBytes >= MIN_FRAME_BYTES,
      "maxFrameBytes too small",
    );
    assert(maxFrameBytes <= 0xffff_ffff, "maxFrameBytes must fit the 4-byte length prefix");
    this.#id = opts.id;
    this.#requestedAddr = opts.listenAddr;
    this.#log = opts.log ?? (() => {});
    const key = HandshakeKey.create(opts.secret);
    const httpUrl = isHttpBaseUrl(opts.httpUrl) ? opts.httpUrl : null;
    if (opts.httpUrl !== undefined && httpUrl === null) {
      this.#log("warn", "not announcing this HTTP URL to peers: not a usable base URL", {
        httpUrl: opts.httpUrl,
      });
    }
    const common = {
      id: opts.id,
      clusterId: opts.clusterId,
      key,
      maxFrameBytes,
      stats: this.#stats,
      log: this.#log,
      httpUrl,
      learnedHttpUrl: (id: NodeId, url: string) => this.#learnedHttpUrl(id, url),
    };
    this.#linkHost = {
      ...common,
      counter: this.#stats,
      maxSendQueue: opts.maxSendQueue ?? MAX_SEND_QUEUE,
      ...(opts.tls ? { tlsCaCerts: opts.tls.caCerts } : {}),
    };
    this.#tls = opts.tls ? { cert: opts.tls.cert, key: opts.tls.key } : null;
    this.#inboundHost = {
      ...common,
      // Inbound connections are what strangers control: their lines are rate-limited.
      log: limitedLog(this.#log),
      closing: () => this.#closing,
      allowed: (from, to) => this.filter === null || this.filter(from, to),
      deliver: (m) => this.#deliver(m),
      storeSnapshot: (m, chunks) => this.onSnapshot(m, chunks),
    };
  }

  /** The actual listening address after {@link start} (the requested one before). */
  get listenAddr(): string {
    return this.#listenAddr || this.#requestedAddr;
  }

  /** Starts listening. */
  // deno-lint-ignore require-await -- async so that a bind failure rejects instead of throwing
  async start(): Promise<void> {
    assert(this.#listener === null && !this.#closing, "start once, before close");
    const { hostname, port } = parseHostPort(this.#requestedAddr);
    const listener = this.#tls
      ? Deno.listenTls({ hostname, port, transport: "tcp", ...this.#tls })
      : Deno.listen({ hostname, port, transport: "tcp" });
    this.#listener = listener;
    const addr = listener.addr;
    this.#listenAddr = addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
    this.#acceptLoop = this.#accept(listener);
    this.#log("info", "peer transport listening", { id: this.#id, addr: this.#listenAddr });
  }

  /** Accepts until closed; a failed accept (e.g. out of file descriptors) pauses, never stops it. */
  async #accept(listener: Deno.TcpListener | Deno.TlsListener): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn | Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#closing) return;
        this.#log("error", "peer listener accept failed", { error: String(e) });
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      if (this.#inbound.size >= MAX_INBOUND_CONNECTIONS) {
        // Make room by dropping the oldest connection that has not proven itself: a flood
        // of silent connections must not lock real members out until their timeouts run.
        const oldest = this.#handshaking.values().next();
        if (oldest.done) {
          bump(this.#stats.rejected, "too_many_connections");
          this.#inboundHost.log("warn", "peer connection rejected", {
            remote: addrOf(conn),
            reason: "too_many_connections",
          });
          closeQuietly(conn);
          continue;
        }
        const evictedConn = oldest.value;
        this.#handshaking.delete(evictedConn);
        bump(this.#stats.rejected, "evicted_in_handshake");
        this.#inboundHost.log("warn", "peer connection rejected", {
          remote: addrOf(evictedConn),
          reason: "evicted_in_handshake",
          detail:
            `the port holds ${MAX_INBOUND_CONNECTIONS} connections; the oldest unproven one went`,
        });
        closeQuietly(evictedConn);
      }
      try {
        if ("setNoDelay" in conn) conn.setNoDelay(true);
      } catch {
        // The peer already reset the connection; the session will notice on its first read.
      }
      this.#handshaking.add(conn);
      const session = serveInbound(this.#inboundHost, conn, () => this.#handshaking.delete(conn));
      this.#inbound.set(session, conn);
      session.finally(() => {
        this.#inbound.delete(session);
        this.#handshaking.delete(conn);
      });
    }
  }

  #learnedHttpUrl(id: NodeId, url: string): void {
    if (this.#closing) return;
    try {
      this.onPeerHttpUrl(id, url);
    } catch (e) {
      this.#log("error", "onPeerHttpUrl threw", { error: String(e), from: id });
    }
  }

  #deliver(m: Message): void {
    try {
      this.onMessage(m);
    } catch (e) {
      // A throwing handler is a host bug; the connection and later messages are not to blame.
      this.#log("error", "onMessage threw", { error: String(e), type: m.type, from: m.from });
    }
  }

  /** Queues `m` for its peer; drops and counts it when the peer is unknown or filtered. */
  send(m: Message): void {
    if (this.filter !== null && !this.filter(m.from, m.to)) {
      this.#stats.droppedFiltered++;
      this.#stats.dropped++;
      return;
    }
    const link = this.#closing ? undefined : this.#links.get(m.to);
    if (m.from !== this.#id) {
      this.#log("error", "refusing to send a message not from this node", {
        from: m.from,
        type: m.type,
      });
    }
    if (link === undefined || m.from !== this.#id) {
      this.#stats.droppedUnknownPeer++;
      this.#stats.dropped++;
      bump(this.#stats.droppedByPeer, m.to);
      return;
    }
    link.enqueue(m);
  }

  /** Replaces the known peers; links to removed or moved peers close, new ones dial. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.#closing) return;
    for (const [id, link] of this.#links) {
      if (peers.get(id) !== link.addr) {
        this.#links.delete(id);
        void link.close();
      }
    }
    this.#peers.clear();
    for (const [id, addr] of peers) {
      if (id === this.#id) continue;
      this.#peers.set(id, addr);
      if (!this.#links.has(id)) this.#links.set(id, new PeerLink(this.#linkHost, id, addr));
    }
  }

  /** Streams a snapshot on its own connection; resolves once the receiver acknowledged it. */
  async sendSnapshot(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.filter !== null && !this.filter(m.from, m.to)) {
      this.#stats.droppedFiltered++;
      this.#stats.dropped++;
      throw new Error(`snapshot to ${m.to} dropped by the fault filter`);
    }
    const addr = this.#peers.get(m.to);
    if (addr === undefined || this.#closing) throw new Error(`no address for peer ${m.to}`);
    const fc = await dial(this.#linkHost, m.to, addr, "snapshot", this.#abort.signal);
    this.#snapshotConns.add(fc);
    try {
      if (this.#closing) throw new Error("transport closed");
      await sendSnapshotOver(fc, m, chunks, this.#linkHost.maxFrameBytes);
      this.#stats.snapshotsSent++;
    } finally {
      this.#snapshotConns.delete(fc);
      fc.close();
    }
  }

  /** A snapshot of the counters. */
  stats(): TransportStats {
    const s = copyStats(this.#stats);
    s.queued = 0;
    for (const link of this.#links.values()) s.queued += link.queued;
    return s;
  }

  /** Closes the listener, every link and every inbound connection; waits for them to end. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#abort.abort();
    this.#listener?.close();
    for (const fc of this.#snapshotConns) fc.close();
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((l) => l.close()));
    await this.#acceptLoop;
    // Closing the listener leaves accepted sockets open: close them so sessions end.
    for (const conn of this.#inbound.values()) closeQuietly(conn);
    await Promise.allSettled([...this.#inbound.keys()]);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // The session already closed it.
  }
}
