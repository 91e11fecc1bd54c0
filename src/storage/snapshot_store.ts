/**
 * Snapshot files: one file per snapshot, written to a temp name, fsynced, renamed and
 * the directory fsynced, so a snapshot is either wholly present or absent.
 *
 * File layout: `MAGIC | u32 headerLength | u32 CRC-32C(header) | CBOR header
 * {index, term, conf} | data | u32 CRC-32C(data) | u64 dataLength | END_MAGIC`.
 * Data is streamed in and out in chunks and never held whole in memory.
 *
 * @module
 */

import { decode, encode } from "cbor-x";
import { join } from "node:path";
import type { ConfState, SnapshotMeta } from "../raft/messages.ts";
import { assert } from "../assert.ts";
import { crc32c } from "./crc32c.ts";
import { FatalStorageError, StorageCorruptionError } from "./errors.ts";
import { padIndex, syncDir } from "./segment_files.ts";

const MAGIC = new TextEncoder().encode("RKVSNAP1");
const END_MAGIC = new TextEncoder().encode("RKVSEND1");
const PREFIX_BYTES = MAGIC.length + 8;
const TRAILER_BYTES = 4 + 8 + END_MAGIC.length;
/** Largest snapshot header (metadata) accepted. */
const MAX_HEADER_BYTES = 1 << 20;
/** Size of the chunks a snapshot is read back in. */
export const SNAPSHOT_READ_CHUNK_BYTES = 1 << 20;
const NAME_PATTERN = /^snapshot-(\d{20})-(\d{20})\.snap$/;
const TEMP_SUFFIX = ".tmp";

/** A snapshot file found on disk. */
export interface SnapshotFile {
  /** Index, term and membership from the header. */
  meta: SnapshotMeta;
  /** Full path of the file. */
  path: string;
  /** Byte offset where the data starts. */
  dataOffset: number;
  /** Length of the data. */
  dataBytes: number;
}

function fileName(meta: SnapshotMeta): string {
  return `snapshot-${padIndex(meta.index)}-${padIndex(meta.term)}.snap`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Streams `chunks` into a new snapshot file for `meta` and makes it durable (unless
 * `fsync` is false). Returns its path.
 */
export async function writeSnapshotFile(
  dir: string,
  meta: SnapshotMeta,
  chunks: AsyncIterable<Uint8Array>,
  fsync: boolean,
): Promise<string> {
  assert(meta.term >= 0, "a snapshot's term is non-negative");
  assert(meta.index === 0 || meta.term >= 1, "a snapshot past index 0 has a term");
  const path = join(dir, fileName(meta));
  const temp = path + TEMP_SUFFIX;
  const header = encode({ index: meta.index, term: meta.term, conf: meta.conf });
  const prefix = new Uint8Array(PREFIX_BYTES);
  prefix.set(MAGIC);
  const pv = new DataView(prefix.buffer);
  pv.setUint32(MAGIC.length, header.length, true);
  pv.setUint32(MAGIC.length + 4, crc32c(header), true);
  const file = await Deno.open(temp, { write: true, create: true, truncate: true });
  try {
    await writeAll(file, prefix);
    await writeAll(file, header);
    let crc = 0;
    let dataBytes = 0;
    for await (const chunk of chunks) {
      crc = crc32c(chunk, crc);
      dataBytes += chunk.length;
      await writeAll(file, chunk);
    }
    const trailer = new Uint8Array(TRAILER_BYTES);
    const tv = new DataView(trailer.buffer);
    tv.setUint32(0, crc, true);
    tv.setUint32(4, dataBytes >>> 0, true);
    tv.setUint32(8, Math.floor(dataBytes / 0x100000000), true);
    trailer.set(END_MAGIC, 12);
    assert(Number.isSafeInteger(dataBytes), "snapshot data length is a safe integer");
    await writeAll(file, trailer);
    if (fsync) await fatalOnError("snapshot fdatasync", () => file.syncData());
  } finally {
    file.close();
  }
  await Deno.rename(temp, path);
  if (fsync) await fatalOnError("directory fsync", () => syncDir(dir));
  return path;
}

/** A failed fsync cannot be retried safely (the kernel may have dropped the pages). */
async function fatalOnError(operation: string, f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    throw new FatalStorageError(operation, e);
  }
}

/** Reads and validates a snapshot file's header and trailer; null if malformed. */
export async function readSnapshotFile(path: string): Promise<SnapshotFile | null> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    const prefix = new Uint8Array(PREFIX_BYTES);
    if (size < PREFIX_BYTES + TRAILER_BYTES) return null;
    await readExactly(file, prefix, 0);
    if (!sameBytes(prefix.subarray(0, MAGIC.length), MAGIC)) return null;
    const pv = new DataView(prefix.buffer);
    const headerBytes = pv.getUint32(MAGIC.length, true);
    if (headerBytes > MAX_HEADER_BYTES) return null;
    const header = new Uint8Array(headerBytes);
    await readExactly(file, header, PREFIX_BYTES);
    if (crc32c(header) !== pv.getUint32(MAGIC.length + 4, true)) return null;
    const trailer = new Uint8Array(TRAILER_BYTES);
    await readExactly(file, trailer, size - TRAILER_BYTES);
    if (!sameBytes(trailer.subarray(12), END_MAGIC)) return null;
    const tv = new DataView(trailer.buffer);
    const dataBytes = tv.getUint32(4, true) + tv.getUint32(8, true) * 0x100000000;
    const dataOffset = PREFIX_BYTES + headerBytes;
    if (dataOffset + dataBytes + TRAILER_BYTES !== size) return null;
    const h = decode(header) as { index: number; term: number; conf: ConfState };
    const meta = { index: h.index, term: h.term, conf: h.conf };
    return { meta, path, dataOffset, dataBytes };
  } finally {
    file.close();
  }
}

async function readExactly(file: Deno.FsFile, buf: Uint8Array, at: number): Promise<void> {
  await file.seek(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(buf.subarray(done));
    if (n === null) throw new RangeError(`unexpected end of file at ${at + done}`);
    done += n;
  }
}

/**
 * Streams a snapshot's data in chunks of at most {@link SNAPSHOT_READ_CHUNK_BYTES}, checking
 * its CRC at the end (throws {@link StorageCorruptionError} on mismatch).
 */
export async function* readSnapshotData(snap: SnapshotFile): AsyncIterable<Uint8Array> {
  const file = await Deno.open(snap.path, { read: true });
  try {
    let left = snap.dataBytes;
    let crc = 0;
    await file.seek(snap.dataOffset, Deno.SeekMode.Start);
    while (left > 0) {
      const chunk = new Uint8Array(Math.min(left, SNAPSHOT_READ_CHUNK_BYTES));
      const n = await file.read(chunk);
      if (n === null) throw new RangeError(`snapshot ${snap.path} ends early`);
      const got = chunk.subarray(0, n);
      crc = crc32c(got, crc);
      left -= n;
      assert(left >= 0, "a snapshot read stays within its data");
      yield got;
    }
    const trailer = new Uint8Array(4);
    await readExactly(file, trailer, snap.dataOffset + snap.dataBytes);
    if (new DataView(trailer.buffer).getUint32(0, true) !== crc) {
      throw new StorageCorruptionError(
        { file: snap.path, offset: snap.dataOffset, index: snap.meta.index },
        "snapshot data fails its CRC-32C",
      );
    }
  } finally {
    file.close();
  }
}

/** Valid snapshot files in `dir`, oldest first. */
export async function listSnapshots(dir: string): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !NAME_PATTERN.test(e.name)) continue;
    const snap = await readSnapshotFile(join(dir, e.name));
    if (snap !== null) out.push(snap);
  }
  return out.sort((a, b) => a.meta.index - b.meta.index || a.meta.term - b.meta.term);
}

/** Deletes all but the newest `keep` snapshots, never the one at `protect`. */
export async function pruneSnapshots(
  dir: string,
  keep: number,
  protect: string | null,
): Promise<void> {
  const all = await listSnapshots(dir);
  for (const snap of all.slice(0, Math.max(0, all.length - keep))) {
    if (snap.path !== protect) await Deno.remove(snap.path);
  }
}

/** Deletes temp files of snapshot writes that never completed (never acknowledged). */
export async function removeSnapshotTemps(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.startsWith("snapshot-") && e.name.endsWith(TEMP_SUFFIX)) {
      await Deno.remove(join(dir, e.name));
    }
  }
}
