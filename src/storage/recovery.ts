/**
 * Opening a data directory: scan every segment, verify every record's CRC, rebuild
 * the log index, the hard state and the current snapshot.
 *
 * Only one kind of damage is repaired: a torn record at the very end of the newest
 * segment, i.e. a write that was never acknowledged. Anything else (a bad record
 * mid-log, a missing segment, an index gap) raises {@link StorageCorruptionError}
 * before a single byte is changed. A run of zeros to the end of a segment is not
 * damage: it is space the writer preallocated, and the records end where it starts.
 *
 * @module
 */

import { decode } from "cbor-x";
import { assert } from "../assert.ts";
import type { HardState, SnapshotMeta } from "../raft/messages.ts";
import { decodeBatchHeader } from "./batch_codec.ts";
import { StorageCorruptionError } from "./errors.ts";
import { LogIndex } from "./log_index.ts";
import { readRecordAt, RECORD_HEADER_BYTES, RecordType } from "./record.ts";
import { listSegments, removeSegmentTemps, segmentPath, syncDir } from "./segment_files.ts";
import { listSnapshots, removeSnapshotTemps, type SnapshotFile } from "./snapshot_store.ts";

/** What recovery found: the durable state as of the last acknowledged write. */
export interface Recovered {
  /** Where every live entry is. */
  index: LogIndex;
  /** The newest durable hard state. */
  hardState: HardState;
  /** The current snapshot's file, or null when there is none (not even a bootstrap). */
  snapshot: SnapshotFile | null;
  /** The current snapshot's metadata ({@link EMPTY_SNAPSHOT_META} when none). */
  snapshotMeta: SnapshotMeta;
  /** Segment names still on disk, ascending. */
  segments: number[];
  /** The newest segment and its valid length, to keep appending to; null if none. */
  active: { segment: number; sizeBytes: number } | null;
}

/** The snapshot meta reported when no snapshot exists. */
export const EMPTY_SNAPSHOT_META: SnapshotMeta = {
  index: 0,
  term: 0,
  conf: { voters: [], learners: [] },
};

interface ScanState {
  index: LogIndex;
  hardState: HardState;
  marker: { index: number; term: number } | null;
  started: boolean;
  torn: { path: string; offset: number } | null;
  lastSizeBytes: number;
  /** True while scanning the oldest segment on disk. */
  inFirstSegment: boolean;
}

/** Scans and validates `dir`, repairs a torn tail, and returns the durable state. */
export async function recover(dir: string): Promise<Recovered> {
  const segments = await listSegments(dir);
  const state: ScanState = {
    index: new LogIndex(1),
    hardState: { term: 0, vote: null, commit: 0 },
    marker: null,
    started: false,
    torn: null,
    lastSizeBytes: 0,
    inFirstSegment: true,
  };
  for (let k = 0; k < segments.length; k++) {
    state.inFirstSegment = k === 0;
    await scanSegment(dir, segments[k] as number, k === segments.length - 1, state);
  }
  const snapshots = await listSnapshots(dir);
  const chosen = chooseSnapshot(snapshots, state);
  const firstPath = segments[0] === undefined ? dir : segmentPath(dir, segments[0]);
  if (chosen === null && (state.marker !== null || state.index.first() > 1)) {
    throw new StorageCorruptionError(
      { file: firstPath, offset: 0, index: state.index.first() - 1 },
      `no snapshot covers the log before index ${state.index.first()}: a segment or ` +
        "snapshot file is missing",
    );
  }
  const snapshotMeta = chosen?.meta ?? EMPTY_SNAPSHOT_META;
  const lastIndex = Math.max(state.index.last(), snapshotMeta.index);
  const lastSegment = segments[segments.length - 1];
  if (state.hardState.commit > lastIndex && lastSegment !== undefined) {
    throw new StorageCorruptionError(
      { file: segmentPath(dir, lastSegment), offset: state.lastSizeBytes, index: lastIndex + 1 },
      `the hard state says index ${state.hardState.commit} is committed but the log ends ` +
        `at ${lastIndex}: the newest segment is missing or truncated`,
    );
  }
  // Validation passed: only now touch the directory.
  const active = await repair(dir, segments, state);
  const stale = snapshots.filter((s) => s.meta.index > snapshotMeta.index && s !== chosen);
  for (const s of stale) await Deno.remove(s.path); // received but never installed
  await removeSnapshotTemps(dir);
  await removeSegmentTemps(dir);
  const recovered = {
    index: state.index,
    hardState: state.hardState,
    snapshot: chosen,
    snapshotMeta,
    segments: active === null && lastSegment !== undefined ? segments.slice(0, -1) : segments,
    active,
  };
  assertRecovered(recovered);
  return recovered;
}

/** Postconditions of {@link recover}: what the storage opens on is self-consistent. */
function assertRecovered(r: Recovered): void {
  const last = Math.max(r.index.last(), r.snapshotMeta.index);
  assert(r.hardState.commit <= last, "recovered commit is within the log");
  assert(r.index.first() <= r.snapshotMeta.index + 1, "the recovered log adjoins its snapshot");
  assert(r.active === null || r.segments.at(-1) === r.active.segment, "active is the newest");
  assert(r.snapshot === null || r.snapshot.meta.index === r.snapshotMeta.index, "snapshot meta");
}

async function scanSegment(
  dir: string,
  segment: number,
  isLast: boolean,
  s: ScanState,
): Promise<void> {
  const path = segmentPath(dir, segment);
  const buf = await Deno.readFile(path);
  const fail = (offset: number, detail: string): never => {
    throw new StorageCorruptionError({ file: path, offset, index: s.index.last() + 1 }, detail);
  };
  if (buf.length === 0 && !isLast) fail(0, "a segment before the newest one is empty");
  let offset = 0;
  while (offset < buf.length) {
    const r = readRecordAt(buf, offset);
    if (!r.ok) {
      // Zeros are space preallocated ahead of the records: their end, in any segment.
      // In the newest segment a bad record followed only by zeros, or running past the
      // end of the file (a short record "ends" there), is a torn write, and is cut off.
      if (allZero(buf, offset)) {
        if (isLast) s.torn = { path, offset };
        break;
      }
      if (isLast && allZero(buf, r.end)) {
        s.torn = { path, offset };
        break;
      }
      fail(
        offset,
        r.reason === "crc"
          ? "record fails its CRC-32C"
          : "record is cut short before the end of the newest segment",
      );
    }
    if (!r.ok) break; // unreachable: fail() throws; narrows the type
    if (offset === 0 && r.type !== RecordType.SnapshotMarker && s.started) {
      if (segment > s.index.last() + 1) {
        fail(
          0,
          `segment starts at index ${segment} but the log before it ends at ` +
            `${s.index.last()}: a segment is missing`,
        );
      }
    }
    applyRecord(r.type, r.payload, offset, segment, s, fail);
    offset = r.end;
  }
  if (isLast) s.lastSizeBytes = s.torn?.offset ?? buf.length;
}

function applyRecord(
  type: number,
  payload: Uint8Array,
  offset: number,
  segment: number,
  s: ScanState,
  fail: (offset: number, detail: string) => never,
): void {
  const length = payload.length + RECORD_HEADER_BYTES;
  if (type === RecordType.Entries) {
    let h;
    try {
      h = decodeBatchHeader(payload);
    } catch (e) {
      return fail(offset, `malformed entries record (${String(e)})`);
    }
    if (s.started && h.firstIndex > s.index.last() + 1) {
      fail(offset, `index gap: batch starts at ${h.firstIndex} after ${s.index.last()}`);
    }
    if (s.started && h.firstIndex < s.index.first()) {
      // Legal only in the oldest surviving segment: the batch overwrote entries whose
      // older segment compaction has since deleted. The snapshot check covers the rest.
      if (!s.inFirstSegment || s.marker !== null) {
        fail(offset, `batch at ${h.firstIndex} overwrites below the log start`);
      }
      s.index.reset(h.firstIndex);
    }
    s.index.append(h.firstIndex, h.termRuns, segment, offset, length);
    s.started = true;
  } else if (type === RecordType.HardState) {
    s.hardState = decodeHardState(payload) ?? fail(offset, "malformed hard state record");
  } else if (type === RecordType.SnapshotMarker) {
    const m = decodeMarker(payload) ?? fail(offset, "malformed snapshot marker record");
    s.index.reset(m.index + 1);
    s.marker = m;
    s.started = true;
  } else {
    fail(offset, `unknown record type ${type}`);
  }
}

function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Decodes a hard state payload, or null if it is not one. */
export function decodeHardState(payload: Uint8Array): HardState | null {
  const v = safeDecode(payload) as Partial<HardState> | null;
  if (
    v === null || typeof v !== "object" || typeof v.term !== "number" ||
    typeof v.commit !== "number" || !(v.vote === null || typeof v.vote === "string")
  ) return null;
  return { term: v.term, vote: v.vote, commit: v.commit };
}

/** Decodes a snapshot marker payload, or null if it is not one. */
export function decodeMarker(payload: Uint8Array): { index: number; term: number } | null {
  const v = safeDecode(payload) as { index?: unknown; term?: unknown } | null;
  if (v === null || typeof v.index !== "number" || typeof v.term !== "number") return null;
  return { index: v.index, term: v.term };
}

function safeDecode(payload: Uint8Array): unknown {
  try {
    return decode(payload);
  } catch {
    return null;
  }
}

/**
 * The newest snapshot the log can continue from: the installed one named by the last
 * marker, or a local one whose (index, term) matches the log. Newer files that match
 * neither were received but never installed.
 */
function chooseSnapshot(snaps: SnapshotFile[], s: ScanState): SnapshotFile | null {
  const first = s.index.first();
  const last = s.index.last();
  for (let k = snaps.length - 1; k >= 0; k--) {
    const snap = snaps[k] as SnapshotFile;
    const { index, term } = snap.meta;
    if (index < first - 1) break;
    const isMarker = s.marker !== null && s.marker.index === index && s.marker.term === term;
    const inLog = index >= first && index <= last && s.index.term(index) === term;
    const adjoins = index === first - 1 && (s.marker === null || isMarker);
    if (isMarker || inLog || adjoins) return snap;
  }
  return null;
}

async function repair(
  dir: string,
  segments: number[],
  s: ScanState,
): Promise<{ segment: number; sizeBytes: number } | null> {
  const last = segments[segments.length - 1];
  if (last === undefined) return null;
  if (s.torn !== null) await Deno.truncate(s.torn.path, s.torn.offset);
  if (s.lastSizeBytes > 0) return { segment: last, sizeBytes: s.lastSizeBytes };
  // An empty newest segment holds nothing; the next write starts a fresh one.
  await Deno.remove(segmentPath(dir, last));
  await syncDir(dir);
  return null;
}
