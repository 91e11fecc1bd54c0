/**
 * The bytes of a node snapshot: a header (the member address book, which lives beside
 * the KV state rather than in it) followed by the KV store's own chunks, then a digest.
 * Each piece is framed `[u32 big-endian length][bytes]`, because storage and transport
 * re-chunk the stream freely and the KV store must get its chunks back exactly as it
 * produced them. The last piece is `DIGEST_MAGIC` + SHA-256 of every frame before it, so
 * a damaged backup, snapshot file or transfer is refused instead of restored (snapshots
 * written before the digest existed have none and are read as before).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import type { NodeId } from "../raft/messages.ts";
import type { MemberAddress } from "./config.ts";

/** Largest single piece; the KV store emits chunks of about 1 MiB. */
export const MAX_SNAPSHOT_PIECE_BYTES = 256 * 1024 * 1024;

/** What the node keeps in a snapshot besides the KV state. */
export interface SnapshotHeader {
  version: 1;
  members: [NodeId, MemberAddress][];
}

/** Marks the digest piece; no KV chunk (a CBOR array) starts with these bytes. */
const DIGEST_MAGIC = new TextEncoder().encode("raftkv-sha256:");
const DIGEST_PIECE_BYTES = DIGEST_MAGIC.length + 32;

/** Frames the header and the KV chunks into one byte stream, digest last. */
export async function* encodeNodeSnapshot(
  header: SnapshotHeader,
  kvChunks: AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const hash = createHash("sha256");
  const hashed = (body: Uint8Array) => {
    const out = frame(body);
    hash.update(out);
    return out;
  };
  yield hashed(new TextEncoder().encode(JSON.stringify(header)));
  for await (const chunk of kvChunks) yield hashed(chunk);
  const digest = new Uint8Array(DIGEST_PIECE_BYTES);
  digest.set(DIGEST_MAGIC);
  digest.set(hash.digest(), DIGEST_MAGIC.length);
  yield frame(digest);
}

/** Reads the header, then yields the KV chunks as they were written. */
export async function decodeNodeSnapshot(
  bytes: AsyncIterable<Uint8Array>,
): Promise<{ header: SnapshotHeader; kvChunks: AsyncIterable<Uint8Array> }> {
  const pieces = readPieces(bytes)[Symbol.asyncIterator]();
  const first = await pieces.next();
  if (first.done) throw new Error("snapshot is empty: no header");
  const header = JSON.parse(new TextDecoder().decode(first.value)) as SnapshotHeader;
  if (header.version !== 1 || !Array.isArray(header.members)) {
    throw new Error("snapshot header is not a raftkv v1 header");
  }
  const hash = createHash("sha256");
  hashFrame(hash, first.value);
  const kvChunks = {
    [Symbol.asyncIterator]: () => checkedChunks(pieces, hash)[Symbol.asyncIterator](),
  };
  return { header, kvChunks };
}

/** The KV chunks, checked against the digest piece (when there is one) at the end. */
async function* checkedChunks(
  pieces: AsyncIterator<Uint8Array>,
  hash: Hash,
): AsyncIterable<Uint8Array> {
  for (;;) {
    const next = await pieces.next();
    if (next.done) return;
    const piece = next.value;
    if (!isDigestPiece(piece)) {
      hashFrame(hash, piece);
      yield piece;
      continue;
    }
    const expected = piece.subarray(DIGEST_MAGIC.length);
    const actual = new Uint8Array(hash.digest());
    if (!actual.every((b, i) => b === expected[i])) {
      throw new Error("snapshot checksum mismatch: the snapshot is damaged");
    }
    if (!(await pieces.next()).done) throw new Error("snapshot has data after its checksum");
    return;
  }
}

function isDigestPiece(piece: Uint8Array): boolean {
  return piece.length === DIGEST_PIECE_BYTES && DIGEST_MAGIC.every((b, i) => piece[i] === b);
}

/** Hashes a piece as it was framed on the wire. */
function hashFrame(hash: Hash, body: Uint8Array): void {
  const prefix = new Uint8Array(4);
  new DataView(prefix.buffer).setUint32(0, body.length);
  hash.update(prefix);
  hash.update(body);
}

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Re-assembles length-prefixed pieces from arbitrarily chunked bytes. */
async function* readPieces(bytes: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of bytes) {
    buffer = concat(buffer, chunk);
    while (buffer.length >= 4) {
      const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(0);
      if (length > MAX_SNAPSHOT_PIECE_BYTES) {
        throw new Error(
          `not a raftkv snapshot, or a damaged one: a piece claims ${length} bytes ` +
            `(at most ${MAX_SNAPSHOT_PIECE_BYTES})`,
        );
      }
      if (buffer.length < 4 + length) break;
      yield buffer.slice(4, 4 + length);
      buffer = buffer.subarray(4 + length);
    }
  }
  if (buffer.length > 0) throw new Error("snapshot ends inside a piece: it is truncated");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
