/**
 * Synchronous reads of entries that left the in-memory tail: the batch record is read
 * from its segment with positioned sync I/O (the core's StableLog is synchronous),
 * CRC-checked, decoded, and kept in an LRU cache bounded in bytes.
 *
 * @module
 */

import { LRUCache } from "lru-cache";
import type { Entry } from "../raft/messages.ts";
import { decodeBatch } from "./batch_codec.ts";
import { StorageCorruptionError } from "./errors.ts";
import type { BatchLocation } from "./log_index.ts";
import { readRecordAt } from "./record.ts";
import { segmentPath } from "./segment_files.ts";
import { runtime } from "../runtime/current.ts";
import type { FileHandle } from "../runtime/runtime.ts";

/** Bytes charged per cached entry on top of the record's size (object overhead). */
export const CACHE_ENTRY_OVERHEAD_BYTES = 64;

/** Reads and caches decoded batch records. */
export class EntryReader {
  readonly #cache: LRUCache<string, Entry[]>;
  readonly #files = new Map<number, FileHandle>();
  /** Reads served from the cache. */
  hits = 0;
  /** Reads that went to disk. */
  misses = 0;

  /** A reader of `dir`'s segments with a cache of at most `cacheBytes`. */
  constructor(readonly dir: string, cacheBytes: number) {
    this.#cache = new LRUCache<string, Entry[]>({
      maxSize: Math.max(1, cacheBytes),
      sizeCalculation: (entries) => {
        let n = 0;
        for (const e of entries) n += e.data.length + CACHE_ENTRY_OVERHEAD_BYTES;
        return Math.max(1, n);
      },
    });
  }

  /** All entries written by the batch record at `loc` (including overwritten ones). */
  read(loc: BatchLocation): Entry[] {
    const key = `${loc.segment}:${loc.offset}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const buf = this.#readBytes(loc);
    const r = readRecordAt(buf, 0);
    const where = {
      file: segmentPath(this.dir, loc.segment),
      offset: loc.offset,
      index: loc.firstIndex,
    };
    if (!r.ok) throw new StorageCorruptionError(where, "record fails its CRC-32C on read");
    const entries = decodeBatch(r.payload);
    this.#cache.set(key, entries);
    return entries;
  }

  #readBytes(loc: BatchLocation): Uint8Array {
    let file = this.#files.get(loc.segment);
    if (file === undefined) {
      file = runtime.fs.openSync(segmentPath(this.dir, loc.segment), { read: true });
      this.#files.set(loc.segment, file);
    }
    const buf = new Uint8Array(loc.length);
    return buf.subarray(0, file.readAtSync(buf, loc.offset));
  }

  /** Forgets a deleted segment: closes its handle and drops its cached batches. */
  dropSegment(segment: number): void {
    this.#files.get(segment)?.close();
    this.#files.delete(segment);
    const prefix = `${segment}:`;
    for (const key of [...this.#cache.keys()]) {
      if (key.startsWith(prefix)) this.#cache.delete(key);
    }
  }

  /** Bytes and batches currently cached. */
  cacheUsage(): { bytes: number; batches: number } {
    return { bytes: this.#cache.calculatedSize, batches: this.#cache.size };
  }

  /** Closes every handle and empties the cache. */
  close(): void {
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
    this.#cache.clear();
  }
}
