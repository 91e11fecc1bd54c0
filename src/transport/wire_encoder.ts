/**
 * The hot-path encoder: writes whole frames (length prefix + the CBOR wire form of a
 * message, see `wire.ts`) straight into one reusable batch buffer, with no intermediate
 * arrays and no per-entry copies beyond the single copy of each entry's bytes into the
 * batch.
 *
 * Why not cbor-x here: its generic `encode` costs about 1.4 µs per small message under
 * Deno (a Node `Buffer` view per call plus the generic type dispatch), which alone
 * would cap a peer link below 700,000 messages/s. The wire form only needs arrays,
 * integers, booleans, short strings and byte strings, and the output is byte-for-byte
 * what cbor-x's encoder produces for `toWire(m)` (checked by tests); decoding still
 * uses the cbor-x decoder.
 *
 * @module
 */

import { invariant } from "./invariant.ts";
import { type Entry, type Message, MessageType } from "../raft/messages.ts";
import { FRAME_HEADER_BYTES, READ_BUFFER_INITIAL_BYTES } from "./frame.ts";
import { WIRE_ARITY } from "./wire.ts";

const MAJOR_UINT = 0x00;
const MAJOR_NEGINT = 0x20;
const MAJOR_BYTES = 0x40;
const MAJOR_TEXT = 0x60;
const MAJOR_ARRAY = 0x80;
const FALSE = 0xf4;
const TRUE = 0xf5;
const FLOAT64 = 0xfb;
/** Node ids whose UTF-8 form is cached; ids are few, so a small cap suffices. */
const MAX_CACHED_STRINGS = 4_096;

const textEncoder = new TextEncoder();

/** Encodes message frames back to back into one growable buffer (one socket write per batch). */
export class MessageFrameEncoder {
  #buf: Uint8Array;
  #view: DataView;
  #at = 0;
  readonly #strings = new Map<string, Uint8Array>();

  /** Creates an encoder whose buffer starts at `initialBytes` and grows on demand. */
  constructor(initialBytes = READ_BUFFER_INITIAL_BYTES) {
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes encoded since the last {@link reset}. */
  get length(): number {
    return this.#at;
  }

  /** The encoded frames (a view valid until the next reset or append). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }

  /** Drops everything encoded, keeping the buffer. */
  reset(): void {
    this.#at = 0;
  }

  /** Removes the last frame (one that turned out too large); `mark` is the length before it. */
  truncate(mark: number): void {
    invariant(mark >= 0 && mark <= this.#at, "truncate within the buffer");
    this.#at = mark;
  }

  /** Appends one frame holding `m`; returns the frame's payload size in bytes. */
  append(m: Message): number {
    const start = this.#at;
    this.#reserve(FRAME_HEADER_BYTES);
    this.#at += FRAME_HEADER_BYTES;
    this.#message(m);
    const size = this.#at - start - FRAME_HEADER_BYTES;
    this.#view.setUint32(start, size);
    return size;
  }

  #message(m: Message): void {
    this.#head(MAJOR_ARRAY, WIRE_ARITY[m.type]);
    this.#number(m.type);
    this.#string(m.from);
    this.#string(m.to);
    this.#number(m.term);
    switch (m.type) {
      case MessageType.Append:
        this.#number(m.prevIndex);
        this.#number(m.prevTerm);
        this.#number(m.commit);
        return this.#entries(m.entries);
      case MessageType.AppendResponse:
        this.#number(m.index);
        this.#bool(m.reject);
        this.#number(m.hintIndex);
        return this.#number(m.hintTerm);
      case MessageType.Vote:
      case MessageType.PreVote:
        this.#number(m.lastIndex);
        this.#number(m.lastTerm);
        return this.#bool(m.transfer);
      case MessageType.VoteResponse:
      case MessageType.PreVoteResponse:
        return this.#bool(m.reject);
      case MessageType.Heartbeat:
        this.#number(m.commit);
        return this.#number(m.context);
      case MessageType.HeartbeatResponse:
      case MessageType.ReadIndex:
        return this.#number(m.context);
      case MessageType.Snapshot:
        this.#number(m.snapshot.index);
        this.#number(m.snapshot.term);
        this.#strings_(m.snapshot.conf.voters);
        return this.#strings_(m.snapshot.conf.learners);
      case MessageType.TimeoutNow:
        return;
      case MessageType.ReadIndexResponse:
        this.#number(m.context);
        this.#number(m.index);
        return this.#bool(m.reject);
    }
  }

  #entries(entries: readonly Entry[]): void {
    this.#head(MAJOR_ARRAY, entries.length * 4);
    for (const e of entries) {
      this.#number(e.term);
      this.#number(e.index);
      this.#number(e.type);
      this.#head(MAJOR_BYTES, e.data.length);
      this.#reserve(e.data.length);
      this.#buf.set(e.data, this.#at);
      this.#at += e.data.length;
    }
  }

  #strings_(list: readonly string[]): void {
    this.#head(MAJOR_ARRAY, list.length);
    for (const s of list) this.#string(s);
  }

  #string(s: string): void {
    let utf8 = this.#strings.get(s);
    if (utf8 === undefined) {
      utf8 = textEncoder.encode(s);
      if (this.#strings.size < MAX_CACHED_STRINGS) this.#strings.set(s, utf8);
    }
    this.#head(MAJOR_TEXT, utf8.length);
    this.#reserve(utf8.length);
    this.#buf.set(utf8, this.#at);
    this.#at += utf8.length;
  }

  #bool(b: boolean): void {
    this.#reserve(1);
    this.#buf[this.#at++] = b ? TRUE : FALSE;
  }

  /** Integers as cbor-x writes them: 32-bit ones in the shortest head, others as float64. */
  #number(n: number): void {
    if (n >>> 0 === n) return this.#head(MAJOR_UINT, n);
    if (n >> 0 === n) return this.#head(MAJOR_NEGINT, -1 - n);
    this.#reserve(9);
    this.#buf[this.#at] = FLOAT64;
    this.#view.setFloat64(this.#at + 1, n);
    this.#at += 9;
  }

  /** A CBOR head: major type plus a length or value below 2^32, shortest form. */
  #head(major: number, n: number): void {
    this.#reserve(5);
    const b = this.#buf;
    let at = this.#at;
    if (n < 24) {
      b[at++] = major | n;
    } else if (n < 0x100) {
      b[at++] = major | 24;
      b[at++] = n;
    } else if (n < 0x10000) {
      b[at++] = major | 25;
      b[at++] = n >>> 8;
      b[at++] = n & 0xff;
    } else {
      invariant(n <= 0xffff_ffff, "CBOR head value fits 32 bits");
      b[at++] = major | 26;
      this.#view.setUint32(at, n);
      at += 4;
    }
    this.#at = at;
  }

  #reserve(extra: number): void {
    const need = this.#at + extra;
    if (need <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
    next.set(this.#buf.subarray(0, this.#at));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
}
