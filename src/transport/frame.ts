/**
 * Length-prefixed framing: a 4-byte big-endian payload length followed by exactly one
 * CBOR value. The reader checks the length against a limit before it allocates anything
 * for the payload, so no input can make it hold more than one frame limit per
 * connection.
 *
 * @module
 */

import { invariant } from "./invariant.ts";

/** Default largest frame payload accepted or produced: 16 MiB. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Smallest configurable frame limit: room for a handshake and a useful snapshot chunk. */
export const MIN_FRAME_BYTES = 4 * 1024;
/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** A read buffer starts this big and grows (up to the frame limit) only for bigger frames. */
export const READ_BUFFER_INITIAL_BYTES = 64 * 1024;
/**
 * A buffer whose every read comes back full doubles, up to this size, so a busy
 * connection needs fewer reads (frames larger than this still grow it to the limit).
 */
export const READ_BUFFER_BURST_BYTES = 1024 * 1024;
/**
 * Small runs of frames are copied out into a shared arena of this size instead of a fresh
 * ArrayBuffer each: allocating an ArrayBuffer costs ~5 µs under Deno, more than decoding
 * a heartbeat. Runs larger than a quarter of it get their own buffer.
 */
export const READ_ARENA_BYTES = 64 * 1024;
/** When less than this is free at the buffer's end, consumed bytes are compacted away. */
const READ_MIN_FREE_BYTES = 16 * 1024;

/** A protocol violation by the peer (bad frame, bad message, failed handshake); `reason` is the rejection counter key. */
export class ProtocolError extends Error {
  /** Creates an error for the rejection counter `reason`. */
  constructor(readonly reason: string, detail: string) {
    super(detail);
    this.name = "ProtocolError";
  }
}

/**
 * Splits a byte stream into frames. One growable buffer per connection, reused across
 * reads; its size never exceeds the frame limit plus the header.
 */
export class FrameReader {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #maxFrameBytes: number;
  /** Complete frames already copied out, served before the buffer is looked at again. */
  #batch: Uint8Array | null = null;
  #batchAt = 0;
  /** Where small runs of frames are copied out; regions once handed out are never reused. */
  #arena: Uint8Array | null = null;
  #arenaAt = 0;
  /** Size of the region last handed out by space(), and whether a read filled it. */
  #spaceBytes = 0;
  #lastReadFilled = false;

  /** Creates a reader that refuses frames longer than `maxFrameBytes`. */
  constructor(maxFrameBytes: number, initialBytes = READ_BUFFER_INITIAL_BYTES) {
    invariant(maxFrameBytes >= 1, "frame limit must be positive");
    this.#maxFrameBytes = maxFrameBytes;
    this.#buf = new Uint8Array(Math.min(initialBytes, maxFrameBytes + FRAME_HEADER_BYTES));
  }

  /** The current limit; raised after a handshake succeeds. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  set maxFrameBytes(n: number) {
    invariant(n >= 1, "frame limit must be positive");
    this.#maxFrameBytes = n;
    const wanted = Math.min(READ_BUFFER_INITIAL_BYTES, n + FRAME_HEADER_BYTES);
    if (this.#buf.length < wanted) this.#grow(wanted);
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    const pending = this.#batch === null ? 0 : this.#batch.length - this.#batchAt;
    return this.#end - this.#start + pending;
  }

  /** Capacity of the reusable buffer (for memory-bound tests). */
  get capacity(): number {
    return this.#buf.length;
  }

  /** A free region to read into; pass the count actually read to {@link commit}. */
  space(): Uint8Array {
    if (this.#buf.length - this.#end < READ_MIN_FREE_BYTES && this.#start > 0) this.#compact();
    const burst = Math.min(READ_BUFFER_BURST_BYTES, this.#maxFrameBytes + FRAME_HEADER_BYTES);
    const full = this.#end === this.#buf.length;
    if (full) this.#grow(this.#buf.length * 2);
    else if (this.#lastReadFilled && this.#buf.length < burst) {
      this.#grow(Math.min(burst, this.#buf.length * 2));
    }
    invariant(this.#end < this.#buf.length, "read buffer has free space");
    this.#spaceBytes = this.#buf.length - this.#end;
    return this.#buf.subarray(this.#end);
  }

  /** Records that `n` bytes were written into the region returned by {@link space}. */
  commit(n: number): void {
    invariant(n >= 0 && this.#end + n <= this.#buf.length, "commit within the buffer");
    this.#end += n;
    this.#lastReadFilled = n === this.#spaceBytes;
  }

  /**
   * Feeds `bytes` through the reader the way the socket loop does (fill, then take every
   * complete frame) and returns the frames found. Throws {@link ProtocolError} like
   * {@link next}. Used by tests and the fuzzer.
   */
  push(bytes: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      const dst = this.space();
      const n = Math.min(dst.length, bytes.length - offset);
      dst.set(bytes.subarray(offset, offset + n));
      this.commit(n);
      offset += n;
      for (let f = this.next(); f !== null; f = this.next()) frames.push(f);
    }
    return frames;
  }

  /**
   * The next complete frame's payload, or null when more bytes are needed. Throws
   * {@link ProtocolError} for a length over the limit, or zero.
   *
   * Payloads are views into a copy that the reader never overwrites: all complete frames
   * found together are copied out at once (into a shared arena when small, see
   * {@link READ_ARENA_BYTES}), never one allocation per frame, so decoded byte strings
   * can alias them safely. A retained view keeps its arena or run (at most one read
   * buffer's worth) alive: hosts that cache entries for long should copy them.
   */
  next(): Uint8Array | null {
    if (this.#batch !== null) return this.#fromBatch(this.#batch);
    const available = this.#end - this.#start;
    if (available < FRAME_HEADER_BYTES) return null;
    const s = this.#start;
    const length = this.#checkedLength(s);
    const total = FRAME_HEADER_BYTES + length;
    if (available < total) {
      // Make room by moving the partial frame to the front; the buffer itself grows
      // only as bytes actually arrive (space() doubles a full buffer), so a bare length
      // prefix cannot make the reader allocate the whole frame up front.
      if (this.#buf.length - s < total) this.#compact();
      return null;
    }
    // Extend the run over every following complete, in-limit frame; a bad one is left
    // for the next call to reject.
    let end = s + total;
    while (end + FRAME_HEADER_BYTES <= this.#end) {
      const n = this.#lengthAt(end);
      if (n === 0 || n > this.#maxFrameBytes || end + FRAME_HEADER_BYTES + n > this.#end) break;
      end += FRAME_HEADER_BYTES + n;
    }
    const batch = this.#copyOut(s, end);
    this.#start = end;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return this.#fromBatch(batch);
  }

  /** A copy of buf[s, end) that nothing will overwrite (arena regions are never reused). */
  #copyOut(s: number, end: number): Uint8Array {
    const n = end - s;
    if (n > READ_ARENA_BYTES / 4) return this.#buf.slice(s, end);
    if (this.#arena === null || READ_ARENA_BYTES - this.#arenaAt < n) {
      this.#arena = new Uint8Array(READ_ARENA_BYTES);
      this.#arenaAt = 0;
    }
    const out = this.#arena.subarray(this.#arenaAt, this.#arenaAt + n);
    out.set(this.#buf.subarray(s, end));
    this.#arenaAt += n;
    return out;
  }

  #fromBatch(batch: Uint8Array): Uint8Array {
    const at = this.#batchAt;
    const n = ((batch[at]! << 24) >>> 0) + (batch[at + 1]! << 16) + (batch[at + 2]! << 8) +
      batch[at + 3]!;
    const end = at + FRAME_HEADER_BYTES + n;
    if (end === batch.length) {
      this.#batch = null;
      this.#batchAt = 0;
    } else {
      this.#batch = batch;
      this.#batchAt = end;
    }
    return batch.subarray(at + FRAME_HEADER_BYTES, end);
  }

  #lengthAt(at: number): number {
    const b = this.#buf;
    return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
  }

  #checkedLength(at: number): number {
    const length = this.#lengthAt(at);
    if (length > this.#maxFrameBytes) {
      throw new ProtocolError(
        "frame_too_large",
        `frame of ${length} bytes exceeds ${this.#maxFrameBytes}`,
      );
    }
    if (length === 0) throw new ProtocolError("empty_frame", "frame of 0 bytes");
    return length;
  }

  #compact(): void {
    if (this.#start === 0) return;
    this.#buf.copyWithin(0, this.#start, this.#end);
    this.#end -= this.#start;
    this.#start = 0;
  }

  #grow(wanted: number): void {
    const cap = this.#maxFrameBytes + FRAME_HEADER_BYTES;
    const size = Math.min(wanted, cap);
    invariant(size > this.#buf.length, "grow only when below the hard cap");
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#buf = next;
  }
}

/**
 * Accumulates frames for one coalesced write. The buffer is reused between writes and
 * grows geometrically when a batch needs more.
 */
export class FrameWriter {
  #buf: Uint8Array;
  #length = 0;

  /** Creates a writer whose buffer starts at `initialBytes`. */
  constructor(initialBytes = READ_BUFFER_INITIAL_BYTES) {
    this.#buf = new Uint8Array(initialBytes);
  }

  /** Bytes accumulated so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends one frame holding `payload` (an already encoded CBOR value). */
  append(payload: Uint8Array): void {
    const n = payload.length;
    invariant(n > 0, "a frame holds one CBOR value");
    this.#reserve(FRAME_HEADER_BYTES + n);
    const b = this.#buf;
    const at = this.#length;
    b[at] = n >>> 24;
    b[at + 1] = (n >>> 16) & 0xff;
    b[at + 2] = (n >>> 8) & 0xff;
    b[at + 3] = n & 0xff;
    b.set(payload, at + FRAME_HEADER_BYTES);
    this.#length = at + FRAME_HEADER_BYTES + n;
  }

  /** The accumulated bytes (a view valid until the next {@link reset}). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }

  /** Empties the writer, keeping its buffer. */
  reset(): void {
    this.#length = 0;
  }

  #reserve(extra: number): void {
    const need = this.#length + extra;
    if (need <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
    next.set(this.#buf.subarray(0, this.#length));
    this.#buf = next;
  }
}

/** Wraps a single payload in a frame (a fresh buffer). */
export function frameOf(payload: Uint8Array): Uint8Array {
  const w = new FrameWriter(FRAME_HEADER_BYTES + payload.length);
  w.append(payload);
  return w.bytes();
}
