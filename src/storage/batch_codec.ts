/**
 * The payload of an entries record: standard CBOR, hand-encoded so that recovery can
 * read a batch's index metadata without decoding (or copying) any entry data.
 *
 * Layout: `[firstIndex, [term, runLength, term, runLength, ...], types, sizes, data]`
 * where `types` is a byte string of one entry type per entry, `sizes` a byte string of
 * u32-LE data lengths, and `data` all entries' data concatenated. Terms are stored as
 * runs because a batch almost always carries a single term.
 *
 * @module
 */

import type { Entry, EntryType } from "../raft/messages.ts";

const MAJOR_TYPE_UINT = 0;
const MAJOR_TYPE_BYTES = 2;
const MAJOR_TYPE_ARRAY = 4;
const BATCH_FIELDS = 5;
/** Worst-case bytes of one CBOR head (major type + 64-bit argument). */
const MAX_HEAD_BYTES = 9;

/** Index metadata of a batch: enough to build the log index. */
export interface BatchHeader {
  /** Index of the batch's first entry. */
  firstIndex: number;
  /** Number of entries in the batch. */
  count: number;
  /** Flattened (term, runLength) pairs covering `count` entries in order. */
  termRuns: number[];
}

class Writer {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }
  head(major: number, value: number): void {
    const m = major << 5;
    if (value < 24) this.buf[this.pos++] = m | value;
    else if (value < 0x100) {
      this.buf[this.pos++] = m | 24;
      this.buf[this.pos++] = value;
    } else if (value < 0x10000) {
      this.buf[this.pos++] = m | 25;
      this.view.setUint16(this.pos, value);
      this.pos += 2;
    } else if (value < 0x100000000) {
      this.buf[this.pos++] = m | 26;
      this.view.setUint32(this.pos, value);
      this.pos += 4;
    } else {
      this.buf[this.pos++] = m | 27;
      this.view.setUint32(this.pos, Math.floor(value / 0x100000000));
      this.view.setUint32(this.pos + 4, value >>> 0);
      this.pos += 8;
    }
  }
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  /** Big-endian unsigned read of `size` bytes (no DataView: this runs per record). */
  #uint(size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + (this.buf[this.pos + i] as number);
    this.pos += size;
    return v;
  }
  head(major: number): number {
    if (this.pos >= this.buf.length) throw new RangeError("batch payload ends early");
    const b = this.buf[this.pos++] as number;
    if (b >> 5 !== major) throw new RangeError(`expected CBOR major type ${major}`);
    const info = b & 31;
    if (info < 24) return info;
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0 || this.pos + size > this.buf.length) {
      throw new RangeError("malformed CBOR head in batch payload");
    }
    return this.#uint(size);
  }
  bytes(): Uint8Array {
    const length = this.head(MAJOR_TYPE_BYTES);
    if (this.pos + length > this.buf.length) throw new RangeError("byte string ends early");
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
}

/** The (term, runLength) pairs of consecutive entries, flattened. */
export function termRunsOf(entries: readonly Entry[]): number[] {
  const runs: number[] = [];
  for (const e of entries) {
    const n = runs.length;
    if (n > 0 && runs[n - 2] === e.term) runs[n - 1] = (runs[n - 1] as number) + 1;
    else runs.push(e.term, 1);
  }
  return runs;
}

/** Encodes consecutive `entries` (at least one) as a batch payload. */
export function encodeBatch(entries: readonly Entry[]): Uint8Array {
  const first = entries[0];
  if (first === undefined) throw new RangeError("a batch holds at least one entry");
  const runs = termRunsOf(entries);
  let dataBytes = 0;
  for (const e of entries) dataBytes += e.data.length;
  const count = entries.length;
  const w = new Writer(
    MAX_HEAD_BYTES * (5 + runs.length) + count * 5 + dataBytes,
  );
  w.head(MAJOR_TYPE_ARRAY, BATCH_FIELDS);
  w.head(MAJOR_TYPE_UINT, first.index);
  w.head(MAJOR_TYPE_ARRAY, runs.length);
  for (const r of runs) w.head(MAJOR_TYPE_UINT, r);
  w.head(MAJOR_TYPE_BYTES, count);
  for (const e of entries) w.buf[w.pos++] = e.type;
  w.head(MAJOR_TYPE_BYTES, count * 4);
  for (const e of entries) {
    w.view.setUint32(w.pos, e.data.length, true);
    w.pos += 4;
  }
  w.head(MAJOR_TYPE_BYTES, dataBytes);
  for (const e of entries) {
    w.buf.set(e.data, w.pos);
    w.pos += e.data.length;
  }
  return w.buf.subarray(0, w.pos);
}

function readHeader(r: Reader): BatchHeader {
  if (r.head(MAJOR_TYPE_ARRAY) !== BATCH_FIELDS) throw new RangeError("batch has wrong arity");
  const firstIndex = r.head(MAJOR_TYPE_UINT);
  const runCount = r.head(MAJOR_TYPE_ARRAY);
  if (runCount === 0 || runCount % 2 !== 0) throw new RangeError("bad term runs");
  const termRuns: number[] = new Array(runCount);
  let count = 0;
  for (let i = 0; i < runCount; i++) {
    const v = r.head(MAJOR_TYPE_UINT);
    termRuns[i] = v;
    if (i % 2 === 1) count += v;
  }
  return { firstIndex, count, termRuns };
}

/** Reads only the index metadata of a batch payload (cheap: no entry data touched). */
export function decodeBatchHeader(payload: Uint8Array): BatchHeader {
  return readHeader(new Reader(payload));
}

/**
 * Decodes a whole batch. Entry `data` are views into `payload` (no copies), so the
 * entries keep the payload's buffer alive.
 */
export function decodeBatch(payload: Uint8Array): Entry[] {
  const r = new Reader(payload);
  const { firstIndex, count, termRuns } = readHeader(r);
  const types = r.bytes();
  const sizes = r.bytes();
  const data = r.bytes();
  if (types.length !== count || sizes.length !== count * 4) {
    throw new RangeError("batch field lengths disagree with its entry count");
  }
  const sizeView = new DataView(sizes.buffer, sizes.byteOffset, sizes.byteLength);
  const out: Entry[] = new Array(count);
  let run = 0;
  let runLeft = termRuns[1] as number;
  let pos = 0;
  for (let k = 0; k < count; k++) {
    while (runLeft === 0) {
      run += 2;
      runLeft = termRuns[run + 1] as number;
    }
    runLeft--;
    const size = sizeView.getUint32(k * 4, true);
    if (pos + size > data.length) throw new RangeError("entry data overruns its batch");
    out[k] = {
      term: termRuns[run] as number,
      index: firstIndex + k,
      type: types[k] as EntryType,
      data: data.subarray(pos, pos + size),
    };
    pos += size;
  }
  if (pos !== data.length) throw new RangeError("batch has trailing entry data");
  return out;
}
