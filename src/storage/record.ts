/**
 * WAL record framing: `[u32 length][u32 CRC-32C][u8 type][payload]`, little-endian.
 * `length` counts the payload bytes; the CRC covers the type byte and the payload, so
 * a torn or flipped byte anywhere after the length is caught. Record type codes are
 * on disk: append-only, never renumber.
 *
 * @module
 */

import { crc32c } from "./crc32c.ts";

/** Bytes before the payload: length, CRC and type. */
export const RECORD_HEADER_BYTES = 9;
/** Largest payload a record may carry; a longer length field means damage. */
export const MAX_RECORD_PAYLOAD_BYTES = 1 << 30;

/** Kinds of WAL record. Append-only codes. */
export const RecordType = {
  /** A batch of consecutive entries; a first index ≤ the last stored one overwrites. */
  Entries: 1,
  /** The hard state (term, vote, commit) as of this point of the log. */
  HardState: 2,
  /** The log restarts after the snapshot index it names (a snapshot was installed). */
  SnapshotMarker: 3,
} as const;
/** One of the {@link RecordType} codes. */
export type RecordType = typeof RecordType[keyof typeof RecordType];

/** Frames `payload` as one record of `type`. */
export function frameRecord(type: RecordType, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(`WAL record of ${payload.length} bytes exceeds the record limit`);
  }
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out[8] = type;
  out.set(payload, RECORD_HEADER_BYTES);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32c(out.subarray(8)), true);
  return out;
}

/** A whole, CRC-valid record found in a buffer. */
export interface RecordRead {
  /** Discriminant: the record is whole and valid. */
  ok: true;
  /** The record's {@link RecordType} code (unvalidated). */
  type: number;
  /** A view of the payload inside the scanned buffer. */
  payload: Uint8Array;
  /** Offset just past the record. */
  end: number;
}

/** Why no valid record starts at an offset. */
export interface RecordDamage {
  /** Discriminant: no valid record here. */
  ok: false;
  /** `short`: the buffer ends inside the record; `crc`: the checksum does not match. */
  reason: "short" | "crc";
  /** Where the record would end (the buffer length for short records). */
  end: number;
}

/** Reads the record starting at `offset` of `buf` (which holds a whole file). */
export function readRecordAt(buf: Uint8Array, offset: number): RecordRead | RecordDamage {
  if (buf.length - offset < RECORD_HEADER_BYTES) {
    return { ok: false, reason: "short", end: buf.length };
  }
  const length = u32le(buf, offset);
  const end = offset + RECORD_HEADER_BYTES + length;
  if (length > MAX_RECORD_PAYLOAD_BYTES || end > buf.length) {
    return { ok: false, reason: "short", end: buf.length };
  }
  const expected = u32le(buf, offset + 4);
  if (crc32c(buf.subarray(offset + 8, end)) !== expected) {
    return { ok: false, reason: "crc", end };
  }
  return {
    ok: true,
    type: buf[offset + 8] as number,
    payload: buf.subarray(offset + RECORD_HEADER_BYTES, end),
    end,
  };
}

/** Reads a little-endian u32 without allocating a DataView (hot in recovery). */
function u32le(buf: Uint8Array, at: number): number {
  return ((buf[at] as number) | ((buf[at + 1] as number) << 8) |
    ((buf[at + 2] as number) << 16) | ((buf[at + 3] as number) << 24)) >>> 0;
}
