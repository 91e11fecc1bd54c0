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
  BASE_PROTOCOL_VERSION,
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
  /** This node's advertised HTTP URL, sent in version-2 hellos (null: none usable). */
  httpUrl: string | null;
  /** A peer proved (when a secret is set) its HTTP URL in a version-2 welcome. */
  learnedHttpUrl(id: NodeId, httpUrl: string): void;
}

/**
 * Refusals a node before version 2 gives a version-2 hello (its parser wants 8
 * elements); on these the dial is retried once with a version-1 hello.
 */
const OLD_PEER_REFUSALS: ReadonlySet<string> = new Set([
  "refused:handshake_malformed",
  "refused:handshake_version",
]);

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
  try {
    return await dialVersion(me, peer, addr, channel, PROTOCOL_VERSION, signal);
  } catch (e) {
    if (!(e instanceof HandshakeFailed) || !OLD_PEER_REFUSALS.has(e.reason)) throw e;
    return await dialVersion(me, peer, addr, channel, BASE_PROTOCOL_VERSION, signal);
  }
}

async function dialVersion(
  me: DialIdentity,
  peer: NodeId,
  addr: string,
  channel: ChannelKind,
  version: number,
  signal?: AbortSignal,
): Promise<FramedConn> {
  signal?.throwIfAborted();
  const conn = await connectWithTimeout(addr, signal, me.tlsCaCerts);
  if ("setNoDelay" in conn) conn.setNoDelay(true);
  const fc = new FramedConn(conn, MAX_HANDSHAKE_FRAME_BYTES, me.counter);
  const abort = () => fc.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const r = await withDeadline(
      fc,
      HANDSHAKE_TIMEOUT_MS,
      () => handshake(fc, me, peer, channel, version),
    );
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
  version: number,
): Promise<void> {
  const challenge = parseChallenge(await requireFrame(fc));
  if (!challenge.ok) throw new HandshakeFailed("malformed", "malformed challenge");
  if (challenge.value.version !== BASE_PROTOCOL_VERSION) {
    throw new HandshakeFailed("version", `peer speaks version ${challenge.value.version}`);
  }
  const key = await me.key;
  const serverNonce = challenge.value.nonce;
  const fields: Omit<Hello, "mac" | "nonce"> = {
    version,
    clusterId: me.clusterId,
    from: me.id,
    to: peer,
    channel,
  };
  if (version >= 2) fields.httpUrl = me.httpUrl;
  const hello: Hello = {
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
  const { mac, httpUrl } = verdict.value;
  if (!(await key.verifyWelcome(serverNonce, hello, mac, httpUrl))) {
    throw new HandshakeFailed("peer_mac", `peer ${peer} did not prove the cluster secret`);
  }
  if (typeof httpUrl === "string") me.learnedHttpUrl(peer, httpUrl);
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
): Promise<Deno.TcpConn | Deno.TlsConn> {
  const { hostname, port } = parseHostPort(addr);
  const pending: Promise<Deno.TcpConn | Deno.TlsConn> = tlsCaCerts
    ? Deno.connectTls({ hostname, port, caCerts: tlsCaCerts })
    : Deno.connect({
      hostname,
      port,
      transport: "tcp",
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
