/**
 * The snapshot stream of the key space: a header, the dedup table, the keys in order,
 * and an end marker, each a separate CBOR chunk of bounded size. Writing reads only
 * from a frozen copy-on-write clone; reading validates everything, so a truncated or
 * corrupt stream fails with a clear error instead of restoring a wrong store.
 *
 * Chunks (CBOR arrays), format 2:
 * - `[SNAPSHOT_FORMAT, "header", index, revision, clockMs, keyCount, dedupCount, leaseCount, lastLeaseId]`
 * - `["dedup", [[idempotencyKey, atMs, result], ...]]`
 * - `["leases", [[id, ttlMs, deadlineMs], ...]]` (numeric ids, increasing)
 * - `["keys", [[key, value, createRevision, modRevision, version, expiresAtMs, lease], ...]]`
 * - `["end", keyCount, dedupCount, leaseCount]`
 *
 * Format 1 (before leases) is still read: its header, key records and end marker lack
 * the lease fields, and it has no lease chunks.
 *
 * @module
 */

import { Encoder } from "cbor-x";
import { RaftkvError } from "../errors.ts";
import { type BTree, compareKeys, newKeyTree } from "./btree.ts";
import type { DedupEntry } from "./dedup.ts";
import type { KvLimits } from "./limits.ts";
import type { ApplyResult, KeyValue } from "./types.ts";
import { leaseIdOf, MAX_LEASES } from "./leases.ts";

/** A lease row: `[id, ttlMs, deadlineMs]`. */
export type LeaseRow = [id: number, ttlMs: number, deadlineMs: number];

/** Version tag of the snapshot layout written; format 1 (no leases) is still read. */
export const SNAPSHOT_FORMAT = 2;
/** The format before leases. */
const SNAPSHOT_FORMAT_V1 = 1;
/** Most leases in one chunk. */
export const SNAPSHOT_CHUNK_MAX_LEASES = 10_000;
/** Most keys in one chunk. */
export const SNAPSHOT_CHUNK_MAX_KEYS = 1_000;
/** A chunk is cut once its keys and values reach this many bytes. */
export const SNAPSHOT_CHUNK_TARGET_BYTES = 1024 * 1024;
/** Most dedup entries in one chunk. */
export const SNAPSHOT_CHUNK_MAX_DEDUP = 5_000;
/** Slack for CBOR framing and numbers when bounding a chunk on restore. */
const CHUNK_OVERHEAD_BYTES = 256 * 1024;

const cbor = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true });

/** Everything a snapshot holds, frozen at the instant `KvStore.snapshot()` was called. */
export interface SnapshotState {
  index: number;
  revision: number;
  clockMs: number;
  dedup: DedupEntry[];
  /** A copy-on-write clone nobody mutates. */
  tree: BTree<string, KeyValue>;
  /** The lease table, copied at the snapshot instant. */
  leases: LeaseRow[];
  lastLeaseId: number;
}

/** What a restore rebuilds from, in stream order. */
export interface RestoredState {
  index: number;
  revision: number;
  clockMs: number;
  dedup: DedupEntry[];
  /** The key space, built chunk by chunk (keys arrive strictly increasing). */
  tree: BTree<string, KeyValue>;
  /** Dedup keys read so far, to refuse duplicates. */
  dedupKeys: Set<string>;
  /** Ids (strings) of the leases read, to check the keys' leases. */
  leaseIds: Set<string>;
  /** Last key read, to check order across chunks. */
  lastKey: string | null;
  leases: LeaseRow[];
  lastLeaseId: number;
  /** Layout of the stream being read. */
  format: number;
}

/** Streams `state` as CBOR chunks. */
export async function* encodeSnapshot(state: SnapshotState): AsyncGenerator<Uint8Array> {
  const { index, revision, clockMs, dedup, tree, leases, lastLeaseId } = state;
  yield chunk([
    SNAPSHOT_FORMAT,
    "header",
    index,
    revision,
    clockMs,
    tree.size,
    dedup.length,
    leases.length,
    lastLeaseId,
  ]);
  for (let i = 0; i < dedup.length; i += SNAPSHOT_CHUNK_MAX_DEDUP) {
    const slice = dedup.slice(i, i + SNAPSHOT_CHUNK_MAX_DEDUP);
    yield chunk(["dedup", slice.map((e) => [e.key, e.atMs, e.result])]);
  }
  for (let i = 0; i < leases.length; i += SNAPSHOT_CHUNK_MAX_LEASES) {
    yield chunk(["leases", leases.slice(i, i + SNAPSHOT_CHUNK_MAX_LEASES)]);
  }
  let batch: unknown[] = [];
  let batchBytes = 0;
  for (const [, kv] of tree.entries()) {
    batch.push([
      kv.key,
      kv.value,
      kv.createRevision,
      kv.modRevision,
      kv.version,
      kv.expiresAtMs,
      kv.lease,
    ]);
    batchBytes += kv.key.length * 3 + kv.value.byteLength;
    if (batch.length >= SNAPSHOT_CHUNK_MAX_KEYS || batchBytes >= SNAPSHOT_CHUNK_TARGET_BYTES) {
      yield chunk(["keys", batch]);
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length > 0) yield chunk(["keys", batch]);
  yield chunk(["end", tree.size, dedup.length, leases.length]);
}

/** Reads a snapshot stream back. Throws `RaftkvError("bad_request")` on any defect. */
export async function decodeSnapshot(
  chunks: AsyncIterable<Uint8Array>,
  limits: KvLimits,
): Promise<RestoredState> {
  const maxChunkBytes = SNAPSHOT_CHUNK_TARGET_BYTES + limits.maxKeyBytes + limits.maxValueBytes +
    CHUNK_OVERHEAD_BYTES;
  let state: RestoredState | null = null;
  let expected = { keys: 0, dedup: 0, leases: 0 };
  let ended = false;
  for await (const bytes of chunks) {
    if (ended) corrupt("data after the end marker");
    const wire = decodeChunk(bytes, maxChunkBytes);
    if (state === null) {
      state = readHeader(wire);
      expected = {
        keys: wire[5] as number,
        dedup: wire[6] as number,
        leases: state.format === SNAPSHOT_FORMAT_V1 ? 0 : wire[7] as number,
      };
      continue;
    }
    switch (wire[0]) {
      case "dedup":
        readDedup(wire, state);
        break;
      case "leases":
        if (state.format === SNAPSHOT_FORMAT_V1) corrupt("lease chunk in a format 1 snapshot");
        readLeases(wire, state);
        break;
      case "keys":
        readKeys(wire, state);
        break;
      case "end":
        if (
          wire[1] !== state.tree.size || wire[2] !== state.dedup.length ||
          (state.format !== SNAPSHOT_FORMAT_V1 && wire[3] !== state.leases.length)
        ) {
          corrupt("end marker counts disagree with the chunks read");
        }
        ended = true;
        break;
      default:
        corrupt(`unknown chunk kind ${String(wire[0])}`);
    }
  }
  if (state === null || !ended) corrupt("stream ended before the end marker");
  if (
    state.tree.size !== expected.keys || state.dedup.length !== expected.dedup ||
    state.leases.length !== expected.leases
  ) {
    corrupt("header counts disagree with the chunks read");
  }
  return state;
}

function chunk(wire: unknown[]): Uint8Array {
  // Copy out of cbor-x's reusable buffer: the consumer may hold chunks across calls.
  return new Uint8Array(cbor.encode(wire));
}

function decodeChunk(bytes: Uint8Array, maxChunkBytes: number): unknown[] {
  if (!(bytes instanceof Uint8Array)) corrupt("chunk is not bytes");
  if (bytes.byteLength > maxChunkBytes) corrupt(`chunk of ${bytes.byteLength} bytes`);
  let wire: unknown;
  try {
    wire = cbor.decode(bytes);
  } catch (error) {
    corrupt(`chunk is not CBOR (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!Array.isArray(wire) || wire.length === 0) corrupt("chunk is not a non-empty array");
  return wire;
}

function readHeader(wire: unknown[]): RestoredState {
  const [format, kind, index, revision, clockMs, keyCount, dedupCount] = wire;
  if ((format !== SNAPSHOT_FORMAT && format !== SNAPSHOT_FORMAT_V1) || kind !== "header") {
    corrupt("missing or unknown header");
  }
  const [leaseCount, lastLeaseId] = format === SNAPSHOT_FORMAT_V1 ? [0, 0] : wire.slice(7, 9);
  for (const n of [index, revision, clockMs, keyCount, dedupCount, leaseCount, lastLeaseId]) {
    if (!isCount(n)) corrupt("header numbers must be non-negative integers");
  }
  if ((leaseCount as number) > MAX_LEASES || (leaseCount as number) > (lastLeaseId as number)) {
    corrupt("header lease counts");
  }
  return {
    format,
    leases: [],
    lastLeaseId: lastLeaseId as number,
    index: index as number,
    revision: revision as number,
    clockMs: clockMs as number,
    dedup: [],
    tree: newKeyTree<KeyValue>(),
    dedupKeys: new Set(),
    leaseIds: new Set(),
    lastKey: null,
  };
}

function readDedup(wire: unknown[], state: RestoredState): void {
  if (state.tree.size > 0 || state.leases.length > 0) corrupt("dedup chunk after keys or leases");
  const entries = wire[1];
  if (!Array.isArray(entries)) corrupt("dedup chunk without entries");
  const seen = state.dedupKeys;
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 3) corrupt("dedup entry shape");
    const [key, atMs, result] = entry;
    if (typeof key !== "string" || !isCount(atMs) || !isApplyResult(result)) {
      corrupt("dedup entry fields");
    }
    const previous = state.dedup.at(-1);
    if (atMs > state.clockMs || (previous !== undefined && atMs < previous.atMs)) {
      corrupt("dedup entries out of clock order");
    }
    if (seen.has(key)) corrupt("duplicate dedup key");
    seen.add(key);
    state.dedup.push({ key, atMs, result });
  }
}

function readLeases(wire: unknown[], state: RestoredState): void {
  if (state.tree.size > 0) corrupt("lease chunk after keys");
  const rows = wire[1];
  if (!Array.isArray(rows)) corrupt("lease chunk without rows");
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== 3 || !row.every(isCount)) corrupt("lease row shape");
    const [id, ttlMs, deadlineMs] = row as LeaseRow;
    const previous = state.leases.at(-1);
    if (id < 1 || id > state.lastLeaseId || (previous !== undefined && id <= previous[0])) {
      corrupt("lease ids out of order or beyond the counter");
    }
    if (ttlMs < 1) corrupt("lease TTL");
    state.leases.push([id, ttlMs, deadlineMs]);
    state.leaseIds.add(leaseIdOf(id));
  }
}

function readKeys(wire: unknown[], state: RestoredState): void {
  const records = wire[1];
  if (!Array.isArray(records)) corrupt("keys chunk without records");
  for (const record of records) {
    const kv = readRecord(record, state);
    if (state.lastKey !== null && compareKeys(state.lastKey, kv.key) >= 0) {
      corrupt("keys out of order");
    }
    state.tree.set(kv.key, kv);
    state.lastKey = kv.key;
  }
}

function readRecord(record: unknown, state: RestoredState): KeyValue {
  const fields = state.format === SNAPSHOT_FORMAT_V1 ? 6 : 7;
  if (!Array.isArray(record) || record.length !== fields) corrupt("key record shape");
  const [key, value, createRevision, modRevision, version, expiresAtMs] = record;
  const lease = record[6] ?? null;
  if (lease !== null && !state.leaseIds.has(lease)) {
    corrupt(`key ${JSON.stringify(key)} names a lease the snapshot lacks`);
  }
  const revision = state.revision;
  if (typeof key !== "string" || key.length === 0 || !(value instanceof Uint8Array)) {
    corrupt("key record key or value");
  }
  if (
    !isCount(createRevision) || !isCount(modRevision) || !isCount(version) ||
    createRevision < 1 || createRevision > modRevision || modRevision > revision || version < 1 ||
    (expiresAtMs !== null && !isCount(expiresAtMs))
  ) {
    corrupt(`key record revisions of ${JSON.stringify(key)}`);
  }
  return Object.freeze({
    key,
    value: new Uint8Array(value), // own the bytes: decoded views share a large buffer
    createRevision,
    modRevision,
    version,
    expiresAtMs: expiresAtMs as number | null,
    lease: lease as string | null,
  });
}

function isApplyResult(value: unknown): value is ApplyResult {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  if (r.ok === true) return r.value === null || typeof r.value === "object";
  return r.ok === false && typeof r.code === "string" && typeof r.message === "string" &&
    (r.current === null || typeof r.current === "object");
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function corrupt(reason: string): never {
  throw new RaftkvError("bad_request", `corrupt kv snapshot: ${reason}`);
}
