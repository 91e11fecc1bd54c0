/**
 * Shared fixtures for transport tests: one sample of every message type, a seeded PRNG,
 * condition waits with deadlines, and a raw client that speaks the handshake by hand.
 *
 * @module
 */

import { type Message, MessageType, type SnapshotMessage } from "../../src/raft/messages.ts";
import { frameOf, FrameReader } from "../../src/transport/frame.ts";
import {
  encodeHello,
  HandshakeKey,
  type Hello,
  newNonce,
  parseChallenge,
  parseVerdict,
  PROTOCOL_VERSION,
} from "../../src/transport/handshake.ts";
import type { ChannelKind, Verdict } from "../../src/transport/handshake.ts";

/** A snapshot message from n1 to n2. */
export function snapshotMessage(from = "n1", to = "n2"): SnapshotMessage {
  return {
    type: MessageType.Snapshot,
    from,
    to,
    term: 7,
    snapshot: { index: 1_000_000, term: 6, conf: { voters: ["n1", "n2", "n3"], learners: ["n4"] } },
  };
}

/** One message of every type, from `from` to `to`, with binary entry data. */
export function sampleMessages(from = "n1", to = "n2"): Message[] {
  const h = { from, to, term: 2 ** 40 + 3 };
  return [
    {
      ...h,
      type: MessageType.Append,
      prevIndex: 10,
      prevTerm: 1,
      commit: 9,
      entries: [
        { term: 2, index: 11, type: 0, data: new Uint8Array([0, 255, 1, 254]) },
        { term: 2, index: 12, type: 1, data: new TextEncoder().encode('{"type":"addVoter"}') },
        { term: 2, index: 13, type: 0, data: new Uint8Array(0) },
      ],
    },
    { ...h, type: MessageType.Append, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] },
    { ...h, type: MessageType.AppendResponse, index: 5, reject: true, hintIndex: 3, hintTerm: 1 },
    { ...h, type: MessageType.Vote, lastIndex: 4, lastTerm: 2, transfer: true },
    { ...h, type: MessageType.PreVote, lastIndex: 4, lastTerm: 2, transfer: false },
    { ...h, type: MessageType.VoteResponse, reject: false },
    { ...h, type: MessageType.PreVoteResponse, reject: true },
    { ...h, type: MessageType.Heartbeat, commit: 8, context: 42 },
    { ...h, type: MessageType.HeartbeatResponse, context: 42 },
    snapshotMessage(from, to),
    { ...h, type: MessageType.TimeoutNow },
    { ...h, type: MessageType.ReadIndex, context: Number.MAX_SAFE_INTEGER },
    { ...h, type: MessageType.ReadIndexResponse, context: 1, index: 77, reject: false },
  ];
}

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls `cond` until true; throws with `what` after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A client socket that performs the handshake by hand, so tests can misbehave after it. */
export class RawClient {
  readonly reader = new FrameReader(16 * 1024 * 1024);
  private constructor(readonly conn: Deno.TcpConn) {}

  /** Connects to `addr` ("host:port"). */
  static async connect(addr: string): Promise<RawClient> {
    const [hostname, port] = addr.split(":");
    return new RawClient(await Deno.connect({ hostname: hostname ?? "", port: Number(port) }));
  }

  /** Reads the next frame, or null at end of stream. */
  async frame(): Promise<Uint8Array | null> {
    for (;;) {
      const f = this.reader.next();
      if (f !== null) return f;
      const n = await this.conn.read(this.reader.space()).catch(() => null);
      if (n === null) return null;
      this.reader.commit(n);
    }
  }

  /** Completes a handshake with the given identity; returns the server's verdict. */
  async handshake(h: {
    clusterId: string;
    from: string;
    to: string;
    channel?: ChannelKind;
    secret?: string;
    version?: number;
    /** Announced from version 2 on; null by default. */
    httpUrl?: string | null;
  }): Promise<Verdict> {
    const challenge = await this.frame();
    if (challenge === null) throw new Error("no challenge");
    const c = parseChallenge(challenge);
    if (!c.ok) throw new Error("bad challenge");
    const key = await HandshakeKey.create(h.secret);
    const version = h.version ?? PROTOCOL_VERSION;
    const fields: Omit<Hello, "mac" | "nonce"> = {
      version,
      clusterId: h.clusterId,
      from: h.from,
      to: h.to,
      channel: h.channel ?? "raft",
      ...(version >= 2 ? { httpUrl: h.httpUrl ?? null } : {}),
    };
    const hello: Hello = {
      ...fields,
      nonce: newNonce(),
      mac: await key.helloMac(c.value.nonce, fields),
    };
    await this.write(frameOf(encodeHello(hello)));
    const v = await this.frame();
    if (v === null) throw new Error("no verdict");
    const parsed = parseVerdict(v);
    if (!parsed.ok) throw new Error("bad verdict");
    return parsed.value;
  }

  /** Writes raw bytes (ignores errors: the server may already have closed). */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    try {
      while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
    } catch {
      // The server closed the connection; the caller checks for that.
    }
  }

  /** True once the server closed the connection (reads end). */
  async closedByPeer(): Promise<boolean> {
    return (await this.frame()) === null;
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}
