/**
 * The client side of a connection: connect, answer the server's challenge, check the
 * verdict (and the server's proof when a secret is configured).
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import { frameOf, ProtocolError } from "./frame.ts";
import { type ByteCounter, FramedConn, parseHostPort, withDeadline } from "./framed_conn.ts";
import {
  type ChannelKind,
  encodeHello,
  HANDSHAKE_TIMEOUT_MS,
  type HandshakeKey,
  type Hello,
  MAX_HANDSHAKE_FRAME_BYTES,
  newNonce,
  parseChallenge,
  parseVerdict,
  PROTOCOL_VERSION,
} from "./handshake.ts";
import { runtime } from "../runtime/current.ts";
import type { Conn } from "../runtime/runtime.ts";

/** A TCP connect that has not completed within this long is abandoned. */
export const DIAL_TIMEOUT_MS = 3_000;

/** What the dialing side must know about itself. */
export interface DialIdentity {
  id: NodeId;
  clusterId: string;
  key: Promise<HandshakeKey>;
  maxFrameBytes: number;
  counter: ByteCounter;
  /** When set, connections are TLS, verifying peers against these CA certificates (PEM). */
  tlsCaCerts?: string[];
}

/** The handshake failed in a way worth counting (refused by the peer, or peer unproven). */
export class HandshakeFailed extends Error {
  /** `reason` is the counter key in `handshakeFailures`. */
  constructor(readonly reason: string, detail: string) {
    super(detail);
    this.name = "HandshakeFailed";
  }
}

/**
 * Connects to `addr` and completes the handshake for `channel`; returns the open
 * connection. `signal` abandons the attempt (connect or handshake) at once, so closing a
 * transport never waits for a dial timeout.
 */
export async function dial(
  me: DialIdentity,
  peer: NodeId,
  addr: string,
  channel: ChannelKind,
  signal?: AbortSignal,
): Promise<FramedConn> {
  signal?.throwIfAborted();
  const conn = await connectWithTimeout(addr, signal, me.tlsCaCerts);
  conn.setNoDelay(true);
  const fc = new FramedConn(conn, MAX_HANDSHAKE_FRAME_BYTES, me.counter);
  const abort = () => fc.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const r = await withDeadline(fc, HANDSHAKE_TIMEOUT_MS, () => handshake(fc, me, peer, channel));
    if ("timedOut" in r) throw new HandshakeFailed("timeout", `handshake with ${peer} timed out`);
    signal?.throwIfAborted();
  } catch (e) {
    fc.close();
    throw e;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
  fc.reader.maxFrameBytes = me.maxFrameBytes;
  return fc;
}

async function handshake(
  fc: FramedConn,
  me: DialIdentity,
  peer: NodeId,
  channel: ChannelKind,
): Promise<void> {
  const challenge = parseChallenge(await requireFrame(fc));
  if (!challenge.ok) throw new HandshakeFailed("malformed", "malformed challenge");
  if (challenge.value.version !== PROTOCOL_VERSION) {
    throw new HandshakeFailed("version", `peer speaks version ${challenge.value.version}`);
  }
  const key = await me.key;
  const serverNonce = challenge.value.nonce;
  const fields = { clusterId: me.clusterId, from: me.id, to: peer, channel };
  const hello: Hello = {
    version: PROTOCOL_VERSION,
    ...fields,
    nonce: newNonce(),
    mac: await key.helloMac(serverNonce, fields),
  };
  await fc.write(frameOf(encodeHello(hello)));
  const verdict = parseVerdict(await requireFrame(fc));
  if (!verdict.ok) throw new HandshakeFailed("malformed", "malformed verdict");
  if (verdict.value.kind === "reject") {
    throw new HandshakeFailed(
      `refused:${verdict.value.reason}`,
      `peer refused: ${verdict.value.reason}`,
    );
  }
  if (!(await key.verifyWelcome(serverNonce, hello, verdict.value.mac))) {
    throw new HandshakeFailed("peer_mac", `peer ${peer} did not prove the cluster secret`);
  }
}

async function requireFrame(fc: FramedConn): Promise<Uint8Array> {
  const f = await fc.readFrame();
  if (f === null) throw new ProtocolError("handshake_eof", "connection closed during handshake");
  return f;
}

async function connectWithTimeout(
  addr: string,
  signal?: AbortSignal,
  tlsCaCerts?: string[],
): Promise<Conn> {
  const { hostname, port } = parseHostPort(addr);
  const pending = runtime.connect({
    hostname,
    port,
    ...(tlsCaCerts ? { caCerts: tlsCaCerts } : {}),
    ...(signal === undefined ? {} : { signal }),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connect to ${addr} timed out`)), DIAL_TIMEOUT_MS);
  });
  try {
    return await Promise.race([pending, timeout]);
  } catch (e) {
    // A connect that completes after the timeout must not leak its socket.
    pending.then((c) => c.close(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
