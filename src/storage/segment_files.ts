/**
 * Names and directory housekeeping of WAL segment files. A segment is named by the
 * first log index it was created for, zero-padded so names sort numerically.
 *
 * @module
 */

import { join } from "node:path";
import { assert } from "../assert.ts";

/** Digits in a zero-padded index (enough for any safe integer). */
const INDEX_DIGITS = 20;
const SEGMENT_SUFFIX = ".wal";
const SEGMENT_PATTERN = /^(\d{20})\.wal$/;

/** Zero-pads a log index for use in file names. */
export function padIndex(index: number): string {
  assert(Number.isSafeInteger(index), "a segment index is a safe integer");
  assert(index >= 0, "a segment index is non-negative");
  const padded = String(index).padStart(INDEX_DIGITS, "0");
  assert(padded.length === INDEX_DIGITS, "a padded index has a fixed width");
  return padded;
}

/** The file name of the segment created for `firstIndex`. */
export function segmentName(firstIndex: number): string {
  return padIndex(firstIndex) + SEGMENT_SUFFIX;
}

/** The full path of a segment. */
export function segmentPath(dir: string, firstIndex: number): string {
  return join(dir, segmentName(firstIndex));
}

/** Segment names (their first indexes) present in `dir`, ascending. */
export async function listSegments(dir: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = e.isFile ? SEGMENT_PATTERN.exec(e.name) : null;
    if (m?.[1] !== undefined) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** Makes renames, creations and deletions in `dir` durable (fsync on the directory). */
export async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Deletes temp files of segment rewrites that never completed (applySnapshot). */
export async function removeSegmentTemps(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(SEGMENT_SUFFIX + ".tmp")) await Deno.remove(join(dir, e.name));
  }
}
