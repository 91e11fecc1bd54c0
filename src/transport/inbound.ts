/**
 * The server side of a connection: challenge, check the hello, then either a Raft read
 * loop (many frames per read, each validated before it reaches the host) or one
 * snapshot. Any violation closes this connection only, with a logged reason and a
 * counter.
 *
 * @module
 */

import { type Message, MessageType, type NodeId, type SnapshotMessage } from "../raft/messages.ts";
import { frameOf, ProtocolError } from "./frame.ts";
import { FramedConn, withDeadline } from "./framed_conn.ts";
import {
  BASE_PROTOCOL_VERSION,
  encodeChallenge,
  encodeVerdict,
  HANDSHAKE_TIMEOUT_MS,
  type HandshakeKey,
  type Hello,
  MAX_HANDSHAKE_FRAME_BYTES,
  newNonce,
  parseHello,
  PROTOCOL_VERSION,
} from "./handshake.ts";
import { answerSnapshot, receiveChunks } from "./snapshot_channel.ts";
import { bump, type TransportLog, type TransportStats } from "./transport.ts";
import { decodeMessage } from "./wire.ts";

/** What an inbound session needs from its transport. */
export interface InboundHost {
  id: NodeId;
  clusterId: string;
  key: Promise<HandshakeKey>;
  maxFrameBytes: number;
  stats: TransportStats;
  log: TransportLog;
  /** Whether the transport is closing (errors then are expected, not logged). */
  closing(): boolean;
  /** The fault filter's verdict for a message from `from` to `to`. */
  allowed(from: NodeId, to: NodeId): boolean;
  deliver(m: Message): void;
  /** This node's advertised HTTP URL, sent in version-2 welcomes (null: none usable). */
  httpUrl: string | null;
  /** A peer announced its HTTP URL in a hello that passed every check. */
  learnedHttpUrl(id: NodeId, httpUrl: string): void;
  storeSnapshot(m: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void>;
}

/**
 * Serves one accepted connection until it ends; never throws. `onAuthenticated` runs once
 * the handshake has succeeded.
 */
export async function serveInbound(
  host: InboundHost,
  conn: Deno.Conn,
  onAuthenticated: () => void = () => {},
): Promise<void> {
  const fc = new FramedConn(conn, MAX_HANDSHAKE_FRAME_BYTES, host.stats);
  const remote = addrOf(conn);
  try {
    const r = await withDeadline(fc, HANDSHAKE_TIMEOUT_MS, () => acceptHandshake(host, fc));
    if ("timedOut" in r) throw new ProtocolError("handshake_timeout", "handshake timed out");
    const hello = r.value;
    onAuthenticated();
    if (typeof hello.httpUrl === "string") host.learnedHttpUrl(hello.from, hello.httpUrl);
    fc.reader.maxFrameBytes = host.maxFrameBytes;
    if (hello.channel === "raft") await raftLoop(host, fc, hello.from);
    else await snapshotSession(host, fc, hello.from);
  } catch (e) {
    if (e instanceof ProtocolError) {
      bump(host.stats.rejected, e.reason);
      host.log("warn", "peer connection rejected", { remote, reason: e.reason, detail: e.message });
    } else if (!host.closing() && !fc.closed) {
      host.log("info", "peer connection ended", { remote, error: String(e) });
    }
  } finally {
    fc.close();
  }
}

/** The remote address of a connection, for logs. */
export function addrOf(conn: Deno.Conn): string {
  const a = conn.remoteAddr;
  return a.transport === "tcp" ? `${a.hostname}:${a.port}` : a.transport;
}

/** Challenges the client and checks its hello; on mismatch answers with the reason. */
async function acceptHandshake(host: InboundHost, fc: FramedConn): Promise<Hello> {
  const nonce = newNonce();
  await fc.write(frameOf(encodeChallenge({ version: BASE_PROTOCOL_VERSION, nonce })));
  const frame = await fc.readFrame();
  if (frame === null) throw new ProtocolError("handshake_eof", "closed before hello");
  const parsed = parseHello(frame);
  if (!parsed.ok) return refuse(fc, parsed.reason, "malformed hello");
  const h = parsed.value;
  if (h.version < BASE_PROTOCOL_VERSION || h.version > PROTOCOL_VERSION) {
    const want = `${BASE_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`;
    return refuse(fc, "handshake_version", `version ${h.version}, want ${want}`);
  }
  if (h.clusterId !== host.clusterId) {
    return refuse(fc, "handshake_cluster", `cluster "${h.clusterId}"`);
  }
  if (h.to !== host.id) return refuse(fc, "handshake_receiver", `meant for "${h.to}"`);
  if (h.from === host.id) return refuse(fc, "handshake_sender", "peer claims our own id");
  const key = await host.key;
  if (!(await key.verifyHello(nonce, h))) return refuse(fc, "handshake_mac", "bad MAC");
  // Answer in the hello's version: a version-1 client reads a two-element welcome only.
  const httpUrl = h.version >= 2 ? host.httpUrl : undefined;
  const mac = await key.welcomeMac(nonce, h, httpUrl);
  await fc.write(frameOf(encodeVerdict(
    httpUrl === undefined ? { kind: "welcome", mac } : { kind: "welcome", mac, httpUrl },
  )));
  return h;
}

async function refuse(fc: FramedConn, reason: string, detail: string): Promise<never> {
  try {
    await fc.write(frameOf(encodeVerdict({ kind: "reject", reason })));
  } catch {
    // The peer may already be gone; the rejection is counted either way.
  }
  throw new ProtocolError(reason, detail);
}

/** Reads frames until the stream ends; every complete frame in a read is handled before the next read. */
async function raftLoop(host: InboundHost, fc: FramedConn, peer: NodeId): Promise<void> {
  for (;;) {
    for (let frame = fc.reader.next(); frame !== null; frame = fc.reader.next()) {
      const m = checkMessage(host, frame, peer);
      if (m.type === MessageType.Snapshot) {
        throw new ProtocolError("snapshot_on_raft_channel", "snapshots use their own channel");
      }
      if (!host.allowed(m.from, m.to)) {
        host.stats.droppedFiltered++;
        host.stats.dropped++;
        continue;
      }
      host.stats.received++;
      host.deliver(m);
    }
    if (!(await fc.fill())) return;
  }
}

function checkMessage(host: InboundHost, frame: Uint8Array, peer: NodeId): Message {
  const parsed = decodeMessage(frame);
  if (!parsed.ok) throw new ProtocolError(parsed.reason, "invalid message");
  const m = parsed.value;
  if (m.from !== peer) {
    throw new ProtocolError("sender_mismatch", `from "${m.from}" on ${peer}'s connection`);
  }
  if (m.to !== host.id) throw new ProtocolError("receiver_mismatch", `message for "${m.to}"`);
  return m;
}

/** Receives one snapshot, hands it to the host, and acknowledges once stored. */
async function snapshotSession(host: InboundHost, fc: FramedConn, peer: NodeId): Promise<void> {
  const first = await fc.readFrame();
  if (first === null) throw new ProtocolError("truncated_snapshot", "no snapshot message");
  const m = checkMessage(host, first, peer);
  if (m.type !== MessageType.Snapshot) {
    throw new ProtocolError("invalid_field", "snapshot channel must start with a Snapshot message");
  }
  if (!host.allowed(m.from, m.to)) {
    host.stats.droppedFiltered++;
    host.stats.dropped++;
    await answerSnapshot(fc, "filtered");
    return;
  }
  const state = { ended: false };
  let failure: string | null = null;
  try {
    await host.storeSnapshot(m, receiveChunks(fc, state));
    if (!state.ended) failure = "receiver stopped before the end of the snapshot";
  } catch (e) {
    if (e instanceof ProtocolError) throw e; // the sender broke the protocol: counted as a rejection
    failure = e instanceof Error ? e.message : String(e);
  }
  if (failure !== null) {
    host.log("warn", "snapshot not stored", { from: peer, error: failure });
  } else {
    host.stats.snapshotsReceived++;
  }
  await answerSnapshot(fc, failure);
}
