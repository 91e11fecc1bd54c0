/**
 * The bytes of a node snapshot: a header (the member address book, which lives beside
 * the KV state rather than in it) followed by the KV store's own chunks. Each piece is
 * framed `[u32 big-endian length][bytes]`, because storage and transport re-chunk the
 * stream freely and the KV store must get its chunks back exactly as it produced them.
 *
 * @module
 */

import type { NodeId } from "../raft/messages.ts";
import type { MemberAddress } from "./config.ts";

/** Largest single piece; the KV store emits chunks of about 1 MiB. */
export const MAX_SNAPSHOT_PIECE_BYTES = 256 * 1024 * 1024;

/** What the node keeps in a snapshot besides the KV state. */
export interface SnapshotHeader {
  version: 1;
  members: [NodeId, MemberAddress][];
}

/** Frames the header and the KV chunks into one byte stream. */
export async function* encodeNodeSnapshot(
  header: SnapshotHeader,
  kvChunks: AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  yield frame(new TextEncoder().encode(JSON.stringify(header)));
  for await (const chunk of kvChunks) yield frame(chunk);
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
  const kvChunks = {
    [Symbol.asyncIterator]: () => pieces,
  };
  return { header, kvChunks };
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
