/**
 * The snapshot channel: a connection of its own carrying exactly one snapshot, so that
 * megabytes of state never queue ahead of heartbeats on the Raft channel.
 *
 * After the handshake the sender writes the Snapshot message frame, then
 * `["chunk", bytes]` frames, then `["end"]`; the receiver stores the bytes and answers
 * `["ack"]` or `["nack", reason]`. TCP flow control bounds memory on both sides: the
 * receiver reads the next chunk only when the host asks for it.
 *
 * @module
 */

import type { SnapshotMessage } from "../raft/messages.ts";
import { FRAME_HEADER_BYTES, frameOf, ProtocolError } from "./frame.ts";
import { type FramedConn, withDeadline } from "./framed_conn.ts";
import { MAX_REASON_LENGTH } from "./handshake.ts";
import { encodeMessage, plainBytes, wireDecoder, wireEncoder } from "./wire.ts";

/** Largest snapshot chunk per frame (smaller when the frame limit is smaller). */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** How long the sender waits for the receiver to store the snapshot and acknowledge. */
export const SNAPSHOT_ACK_TIMEOUT_MS = 120_000;
/** Room a chunk frame needs besides its bytes (CBOR array, tag string, byte-string head). */
const CHUNK_FRAME_OVERHEAD_BYTES = 16;

const CHUNK_TAG = new TextEncoder().encode("chunk");

/** Frame header plus CBOR prefix of a chunk of `n` bytes: `[ "chunk", h'…' ]` minus the bytes. */
function chunkPrefix(n: number): Uint8Array {
  const cbor = [
    0x82,
    0x60 | CHUNK_TAG.length,
    ...CHUNK_TAG,
    0x5a,
    n >>> 24,
    (n >>> 16) & 0xff,
    (n >>> 8) & 0xff,
    n & 0xff,
  ];
  const payloadLength = cbor.length + n;
  const out = new Uint8Array(FRAME_HEADER_BYTES + cbor.length);
  new DataView(out.buffer).setUint32(0, payloadLength);
  out.set(cbor, FRAME_HEADER_BYTES);
  return out;
}

/** Largest chunk that fits in one frame under `maxFrameBytes`. */
export function chunkLimit(maxFrameBytes: number): number {
  return Math.min(SNAPSHOT_CHUNK_BYTES, maxFrameBytes - CHUNK_FRAME_OVERHEAD_BYTES);
}

/** Streams `m` and its bytes over an established snapshot connection and awaits the ack. */
export async function sendSnapshotOver(
  fc: FramedConn,
  m: SnapshotMessage,
  chunks: AsyncIterable<Uint8Array>,
  maxFrameBytes: number,
): Promise<void> {
  const limit = chunkLimit(maxFrameBytes);
  await fc.write(frameOf(Uint8Array.prototype.slice.call(encodeMessage(m))));
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += limit) {
      const piece = chunk.subarray(at, Math.min(chunk.length, at + limit));
      await fc.write(chunkPrefix(piece.length));
      await fc.write(piece);
    }
  }
  await fc.write(frameOf(Uint8Array.prototype.slice.call(wireEncoder.encode(["end"]))));
  const r = await withDeadline(fc, SNAPSHOT_ACK_TIMEOUT_MS, () => fc.readFrame());
  if ("timedOut" in r) throw new Error("snapshot not acknowledged in time");
  if (r.value === null) throw new Error("receiver closed before acknowledging the snapshot");
  const reply = decodeControl(r.value);
  if (reply?.[0] === "ack" && reply.length === 1) return;
  if (reply?.[0] === "nack" && typeof reply[1] === "string") {
    throw new Error(`receiver refused the snapshot: ${reply[1].slice(0, MAX_REASON_LENGTH)}`);
  }
  throw new Error("malformed snapshot acknowledgement");
}

function decodeControl(bytes: Uint8Array): unknown[] | null {
  try {
    const v: unknown = wireDecoder.decode(bytes);
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * The chunks following the Snapshot frame, read from `fc` on demand. Ends at `["end"]`;
 * throws {@link ProtocolError} for anything else. `state.ended` tells whether the end
 * marker was seen.
 */
export async function* receiveChunks(
  fc: FramedConn,
  state: { ended: boolean },
): AsyncGenerator<Uint8Array, void, undefined> {
  for (;;) {
    const frame = await fc.readFrame();
    if (frame === null) {
      throw new ProtocolError("truncated_snapshot", "stream ended inside a snapshot");
    }
    const v = decodeControl(frame);
    if (v === null) throw new ProtocolError("invalid_cbor", "snapshot frame is not a CBOR array");
    if (v.length === 1 && v[0] === "end") {
      state.ended = true;
      return;
    }
    if (v.length !== 2 || v[0] !== "chunk" || !(v[1] instanceof Uint8Array)) {
      throw new ProtocolError("invalid_field", "snapshot frame is not a chunk");
    }
    yield plainBytes(v[1]);
  }
}

/** Tells the sender the snapshot is stored (`null`) or why not. */
export async function answerSnapshot(fc: FramedConn, failure: string | null): Promise<void> {
  const value = failure === null ? ["ack"] : ["nack", failure.slice(0, MAX_REASON_LENGTH)];
  await fc.write(frameOf(Uint8Array.prototype.slice.call(wireEncoder.encode(value))));
}
