/**
 * The connection handshake. It runs before any Raft message and is deliberately small:
 *
 * 1. server → client `["challenge", version, serverNonce]` (fresh random nonce)
 * 2. client → server `["hello", version, clusterId, from, to, channel, clientNonce, mac]`
 *    with mac = HMAC-SHA-256(secret, "hello" | serverNonce | clusterId | from | to | channel)
 * 3. server → client `["welcome", mac']` with
 *    mac' = HMAC-SHA-256(secret, "welcome" | clientNonce | serverNonce | clusterId | from | to | channel),
 *    or `["reject", reason]` followed by close.
 *
 * The server's nonce is new for every connection, so a recorded hello is useless on
 * another connection (replay fails); the client's nonce makes the server prove the
 * secret too. Without a configured secret both MACs are empty and only the identities
 * are checked. Fields are length-prefixed before MACing, so no two field lists collide.
 *
 * @module
 */

import { isNodeId, type Parsed, wireDecoder, wireEncoder } from "./wire.ts";
import type { NodeId } from "../raft/messages.ts";

/** Peer protocol version; bumped on any incompatible change of frames or wire forms. */
export const PROTOCOL_VERSION = 1;
/** Random bytes in each nonce. */
export const HANDSHAKE_NONCE_BYTES = 32;
/** Largest frame accepted before the handshake completes (the frame limit applies after). */
export const MAX_HANDSHAKE_FRAME_BYTES = 1024;
/** A handshake not completed within this long closes the connection. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
/** Longest cluster id accepted. */
export const MAX_CLUSTER_ID_LENGTH = 128;
/** Longest rejection reason sent or accepted. */
export const MAX_REASON_LENGTH = 256;
/** Bytes of an HMAC-SHA-256 tag. */
const MAC_BYTES = 32;

/** What a connection carries: Raft messages, or exactly one snapshot. */
export type ChannelKind = "raft" | "snapshot";

/** The server's opening frame. */
export interface Challenge {
  version: number;
  nonce: Uint8Array;
}

/** The client's answer: who it is, whom it wants, and proof of the secret. */
export interface Hello {
  version: number;
  clusterId: string;
  from: NodeId;
  to: NodeId;
  channel: ChannelKind;
  nonce: Uint8Array;
  mac: Uint8Array;
}

/** The server's verdict. */
export type Verdict = { kind: "welcome"; mac: Uint8Array } | { kind: "reject"; reason: string };

/** A fresh random nonce. */
export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(HANDSHAKE_NONCE_BYTES));
}

/** CBOR payload of a challenge frame. */
export function encodeChallenge(c: Challenge): Uint8Array {
  return copy(wireEncoder.encode(["challenge", c.version, c.nonce]));
}

/** CBOR payload of a hello frame. */
export function encodeHello(h: Hello): Uint8Array {
  return copy(
    wireEncoder.encode(["hello", h.version, h.clusterId, h.from, h.to, h.channel, h.nonce, h.mac]),
  );
}

/** CBOR payload of a verdict frame. */
export function encodeVerdict(v: Verdict): Uint8Array {
  const value = v.kind === "welcome"
    ? ["welcome", v.mac]
    : ["reject", v.reason.slice(0, MAX_REASON_LENGTH)];
  return copy(wireEncoder.encode(value));
}

function copy(b: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(b);
}

function decode(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: wireDecoder.decode(bytes) };
  } catch {
    return { ok: false };
  }
}

const MALFORMED = { ok: false, reason: "handshake_malformed" } as const;

function isNonce(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length === HANDSHAKE_NONCE_BYTES;
}

function isMac(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && (v.length === 0 || v.length === MAC_BYTES);
}

function isVersion(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Parses a challenge frame payload. */
export function parseChallenge(bytes: Uint8Array): Parsed<Challenge> {
  const d = decode(bytes);
  if (!d.ok || !Array.isArray(d.value) || d.value.length !== 3) return MALFORMED;
  const [tag, version, nonce] = d.value;
  if (tag !== "challenge" || !isVersion(version) || !isNonce(nonce)) return MALFORMED;
  return { ok: true, value: { version, nonce } };
}

/** Parses a hello frame payload (shape only; identities and MAC are checked by the server). */
export function parseHello(bytes: Uint8Array): Parsed<Hello> {
  const d = decode(bytes);
  if (!d.ok || !Array.isArray(d.value) || d.value.length !== 8) return MALFORMED;
  const [tag, version, clusterId, from, to, channel, nonce, mac] = d.value;
  if (tag !== "hello" || !isVersion(version)) return MALFORMED;
  if (typeof clusterId !== "string" || clusterId.length > MAX_CLUSTER_ID_LENGTH) return MALFORMED;
  if (!isNodeId(from) || !isNodeId(to)) return MALFORMED;
  if (channel !== "raft" && channel !== "snapshot") return MALFORMED;
  if (!isNonce(nonce) || !isMac(mac)) return MALFORMED;
  return { ok: true, value: { version, clusterId, from, to, channel, nonce, mac } };
}

/** Parses a verdict frame payload. */
export function parseVerdict(bytes: Uint8Array): Parsed<Verdict> {
  const d = decode(bytes);
  if (!d.ok || !Array.isArray(d.value)) return MALFORMED;
  const [tag, arg] = d.value;
  if (d.value.length === 2 && tag === "welcome" && isMac(arg)) {
    return { ok: true, value: { kind: "welcome", mac: arg } };
  }
  if (d.value.length === 2 && tag === "reject" && typeof arg === "string") {
    return { ok: true, value: { kind: "reject", reason: arg.slice(0, MAX_REASON_LENGTH) } };
  }
  return MALFORMED;
}

const textEncoder = new TextEncoder();

/** Concatenates fields, each preceded by its 4-byte length, so field lists never collide. */
function macInput(fields: ReadonlyArray<Uint8Array | string>): Uint8Array<ArrayBuffer> {
  const parts = fields.map((f) => typeof f === "string" ? textEncoder.encode(f) : f);
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** The cluster secret as an HMAC key, or none: then MACs are empty and not checked. */
export class HandshakeKey {
  private constructor(private readonly key: CryptoKey | null) {}

  /** Imports `secret` (when given and non-empty) as an HMAC-SHA-256 key. */
  static async create(secret: string | undefined): Promise<HandshakeKey> {
    if (secret === undefined || secret === "") return new HandshakeKey(null);
    const key = await crypto.subtle.importKey(
      "raw",
      textEncoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new HandshakeKey(key);
  }

  /** Whether a secret is configured. */
  get enabled(): boolean {
    return this.key !== null;
  }

  /** The client's proof for `serverNonce`. */
  helloMac(
    serverNonce: Uint8Array,
    h: Omit<Hello, "mac" | "nonce" | "version">,
  ): Promise<Uint8Array> {
    return this.#sign(["hello", serverNonce, h.clusterId, h.from, h.to, h.channel]);
  }

  /** Checks the client's proof; always true without a secret. */
  verifyHello(serverNonce: Uint8Array, h: Hello): Promise<boolean> {
    return this.#verify(h.mac, ["hello", serverNonce, h.clusterId, h.from, h.to, h.channel]);
  }

  /** The server's proof, binding both nonces. */
  welcomeMac(serverNonce: Uint8Array, h: Hello): Promise<Uint8Array> {
    return this.#sign(["welcome", h.nonce, serverNonce, h.clusterId, h.from, h.to, h.channel]);
  }

  /** Checks the server's proof; always true without a secret. */
  verifyWelcome(serverNonce: Uint8Array, h: Hello, mac: Uint8Array): Promise<boolean> {
    return this.#verify(mac, [
      "welcome",
      h.nonce,
      serverNonce,
      h.clusterId,
      h.from,
      h.to,
      h.channel,
    ]);
  }

  async #sign(fields: ReadonlyArray<Uint8Array | string>): Promise<Uint8Array> {
    if (this.key === null) return new Uint8Array(0);
    return new Uint8Array(await crypto.subtle.sign("HMAC", this.key, macInput(fields)));
  }

  async #verify(mac: Uint8Array, fields: ReadonlyArray<Uint8Array | string>): Promise<boolean> {
    if (this.key === null) return true;
    if (mac.length !== MAC_BYTES) return false;
    // subtle.verify compares in constant time.
    return await crypto.subtle.verify("HMAC", this.key, new Uint8Array(mac), macInput(fields));
  }
}
