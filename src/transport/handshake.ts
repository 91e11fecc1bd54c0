/**
 * The connection handshake. It runs before any Raft message and is deliberately small:
 *
 * 1. server → client `["challenge", 1, serverNonce]` (fresh random nonce)
 * 2. client → server `["hello", version, clusterId, from, to, channel, clientNonce, mac, httpUrl]`
 *    with mac = HMAC-SHA-256(secret, "hello" | serverNonce | clusterId | from | to | channel | httpUrl)
 * 3. server → client `["welcome", mac', httpUrl]` with
 *    mac' = HMAC-SHA-256(secret, "welcome" | clientNonce | serverNonce | clusterId | from | to |
 *    channel | client's httpUrl | server's httpUrl), or `["reject", reason]` followed by close.
 *
 * Versions: hello version 2 (above) carries each side's advertised HTTP URL (or null),
 * so members started without `@http://…` in `--initial-cluster` learn where to forward
 * writes. Version 1 is the same without the URL fields (hello of 8 elements, welcome of
 * 2, MACs without the URLs). The challenge still announces 1, which is all that nodes
 * before version 2 accept; a server accepts both hello versions and answers in the
 * hello's, and a client whose version-2 hello is refused as malformed (a node before
 * version 2) dials again with version 1.
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

/** Newest hello version this node speaks (2: with HTTP URLs); see the module doc. */
export const PROTOCOL_VERSION = 2;
/** Version the challenge announces and oldest hello accepted: every node speaks it. */
export const BASE_PROTOCOL_VERSION = 1;
/** Longest advertised HTTP URL sent or accepted, in UTF-16 code units. */
export const MAX_HTTP_URL_LENGTH = 256;
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
  /**
   * Version 2: the client's advertised HTTP base URL, or null when it has none usable.
   * Absent in version 1.
   */
  httpUrl?: string | null;
}

/** The server's verdict; a version-2 welcome carries the server's HTTP URL (or null). */
export type Verdict =
  | { kind: "welcome"; mac: Uint8Array; httpUrl?: string | null }
  | { kind: "reject"; reason: string };

/** A fresh random nonce. */
export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(HANDSHAKE_NONCE_BYTES));
}

/** CBOR payload of a challenge frame. */
export function encodeChallenge(c: Challenge): Uint8Array {
  return copy(wireEncoder.encode(["challenge", c.version, c.nonce]));
}

/** CBOR payload of a hello frame: 8 elements in version 1, 9 (the URL last) from 2 on. */
export function encodeHello(h: Hello): Uint8Array {
  const base = ["hello", h.version, h.clusterId, h.from, h.to, h.channel, h.nonce, h.mac];
  return copy(wireEncoder.encode(h.version >= 2 ? [...base, h.httpUrl ?? null] : base));
}

/** CBOR payload of a verdict frame (a welcome with `httpUrl` set is the version-2 form). */
export function encodeVerdict(v: Verdict): Uint8Array {
  const value = v.kind === "reject"
    ? ["reject", v.reason.slice(0, MAX_REASON_LENGTH)]
    : v.httpUrl === undefined
    ? ["welcome", v.mac]
    : ["welcome", v.mac, v.httpUrl];
  return copy(wireEncoder.encode(value));
}

/**
 * Whether `v` is an HTTP base URL other members can forward to: http(s), at most
 * {@link MAX_HTTP_URL_LENGTH} long, a host that is not a wildcard (0.0.0.0, ::), no
 * credentials, query or fragment. Only such URLs are sent or accepted.
 */
export function isHttpBaseUrl(v: unknown): v is string {
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_HTTP_URL_LENGTH) return false;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return false;
  }
  return url.hostname !== "" && !WILDCARD_HOSTS.has(url.hostname);
}

/** Listen-on-everything addresses: reachable from nowhere as a destination. */
const WILDCARD_HOSTS: ReadonlySet<string> = new Set(["0.0.0.0", "[::]"]);

function isOptionalUrl(v: unknown): v is string | null {
  return v === null || isHttpBaseUrl(v);
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

/**
 * Parses a hello frame payload (shape only; identities and MAC are checked by the server).
 * Version 1 has 8 elements; any later version 9, the last a valid HTTP URL or null.
 */
export function parseHello(bytes: Uint8Array): Parsed<Hello> {
  const d = decode(bytes);
  if (!d.ok || !Array.isArray(d.value)) return MALFORMED;
  const [tag, version, clusterId, from, to, channel, nonce, mac, httpUrl] = d.value;
  if (tag !== "hello" || !isVersion(version)) return MALFORMED;
  if (d.value.length !== (version >= 2 ? 9 : 8)) return MALFORMED;
  if (typeof clusterId !== "string" || clusterId.length > MAX_CLUSTER_ID_LENGTH) return MALFORMED;
  if (!isNodeId(from) || !isNodeId(to)) return MALFORMED;
  if (channel !== "raft" && channel !== "snapshot") return MALFORMED;
  if (!isNonce(nonce) || !isMac(mac)) return MALFORMED;
  const hello: Hello = { version, clusterId, from, to, channel, nonce, mac };
  if (version >= 2) {
    if (!isOptionalUrl(httpUrl)) return MALFORMED;
    hello.httpUrl = httpUrl;
  }
  return { ok: true, value: hello };
}

/** Parses a verdict frame payload. */
export function parseVerdict(bytes: Uint8Array): Parsed<Verdict> {
  const d = decode(bytes);
  if (!d.ok || !Array.isArray(d.value)) return MALFORMED;
  const [tag, arg] = d.value;
  if (d.value.length === 2 && tag === "welcome" && isMac(arg)) {
    return { ok: true, value: { kind: "welcome", mac: arg } };
  }
  const httpUrl: unknown = d.value[2];
  if (d.value.length === 3 && tag === "welcome" && isMac(arg) && isOptionalUrl(httpUrl)) {
    return { ok: true, value: { kind: "welcome", mac: arg, httpUrl } };
  }
  if (d.value.length === 2 && tag === "reject" && typeof arg === "string") {
    return { ok: true, value: { kind: "reject", reason: arg.slice(0, MAX_REASON_LENGTH) } };
  }
  return MALFORMED;
}

const textEncoder = new TextEncoder();

/** MAC input of a hello; "" stands for a null URL (never a valid URL itself). */
function helloFields(
  serverNonce: Uint8Array,
  h: Omit<Hello, "mac" | "nonce">,
): (Uint8Array | string)[] {
  const fields = ["hello", serverNonce, h.clusterId, h.from, h.to, h.channel];
  return h.version >= 2 ? [...fields, h.httpUrl ?? ""] : fields;
}

function welcomeFields(
  serverNonce: Uint8Array,
  h: Hello,
  httpUrl: string | null | undefined,
): (Uint8Array | string)[] {
  const fields = ["welcome", h.nonce, serverNonce, h.clusterId, h.from, h.to, h.channel];
  return h.version >= 2 ? [...fields, h.httpUrl ?? "", httpUrl ?? ""] : fields;
}

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

  /** The client's proof for `serverNonce` (binding its URL from version 2 on). */
  helloMac(serverNonce: Uint8Array, h: Omit<Hello, "mac" | "nonce">): Promise<Uint8Array> {
    return this.#sign(helloFields(serverNonce, h));
  }

  /** Checks the client's proof; always true without a secret. */
  verifyHello(serverNonce: Uint8Array, h: Hello): Promise<boolean> {
    return this.#verify(h.mac, helloFields(serverNonce, h));
  }

  /** The server's proof, binding both nonces (and, from version 2 on, both URLs). */
  welcomeMac(serverNonce: Uint8Array, h: Hello, httpUrl?: string | null): Promise<Uint8Array> {
    return this.#sign(welcomeFields(serverNonce, h, httpUrl));
  }

  /** Checks the server's proof; always true without a secret. */
  verifyWelcome(
    serverNonce: Uint8Array,
    h: Hello,
    mac: Uint8Array,
    httpUrl?: string | null,
  ): Promise<boolean> {
    return this.#verify(mac, welcomeFields(serverNonce, h, httpUrl));
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
