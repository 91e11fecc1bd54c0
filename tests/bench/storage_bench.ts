/**
 * Storage benchmark (prints, never asserts). Run: deno run -A tests/bench/storage_bench.ts
 *
 * 1. For each batch size (1, 16, 256 entries of 100 bytes), save() with fsync "always",
 *    one save at a time (the driver's pattern), interleaved slice by slice with the raw
 *    fdatasync rate of this disk (4 KiB append + syncData), so both see the same
 *    background load on a shared disk: batches/s, % of raw, entries/s, MB/s.
 * 2. Concurrent savers (64 x batch 1, 4 x batch 256), showing group commit.
 * 3. Time to open a 1,000,000-entry log (written with fsync "never").
 *
 * Goals: batch-1 batches/s ≥ 80% of the raw fsync rate; ≥ 200,000 entries/s at batch
 * 256; opening 1M entries < 2 s. Runtime is bounded (about 40 s).
 */

import type { Entry } from "../../src/raft/messages.ts";
import { openStorage, type RaftStorage } from "../../src/storage/raft_storage.ts";

const SLICE_MS = 500;
const SLICES = 5;
const CONCURRENT_MS = 3_000;
const ENTRY_BYTES = 100;
const OPEN_ENTRIES = 1_000_000;
/** Batch sizes the 1M-entry log is written with before timing its open. */
const OPEN_BATCHES = [1_000, 16];

const payload = new Uint8Array(ENTRY_BYTES).fill(7);
const entries = (from: number, n: number): Entry[] =>
  Array.from({ length: n }, (_, k) => ({ index: from + k, term: 1, type: 0, data: payload }));
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Appends 4 KiB + fdatasync for `ms`; returns the count. */
async function rawSlice(f: Deno.FsFile, ms: number): Promise<number> {
  const block = new Uint8Array(4096).fill(1);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await f.write(block);
    await f.syncData();
    n++;
  }
  return n;
}

/** Sequential saves of `batch` entries for `ms`; returns the count. */
async function saveSlice(s: RaftStorage, batch: number, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    const first = s.lastIndex() + 1;
    await s.save({ term: 1, vote: "n1", commit: first - 1 }, entries(first, batch));
    n++;
  }
  return n;
}

async function paired(dir: string, batch: number): Promise<void> {
  const raw = await Deno.open(`${dir}/raw${batch}`, { write: true, create: true });
  const s = await openStorage(`${dir}/seq${batch}`, { fsync: "always" });
  let rawOps = 0;
  let saves = 0;
  for (let k = 0; k < SLICES; k++) {
    rawOps += await rawSlice(raw, SLICE_MS);
    saves += await saveSlice(s, batch, SLICE_MS);
  }
  const secs = (SLICES * SLICE_MS) / 1000;
  const st = s.stats();
  raw.close();
  await s.close();
  const sorted = [...st.fsyncLatencyMs].sort((a, b) => a - b);
  const p = (q: number) => (sorted[Math.floor(sorted.length * q)] ?? 0).toFixed(2);
  console.log(
    `batch=${batch}: ${fmt(saves / secs)} batches/s vs raw fdatasync ${fmt(rawOps / secs)}/s ` +
      `(${Math.round((100 * saves) / rawOps)}%), ${fmt((saves * batch) / secs)} entries/s, ` +
      `${(st.bytesWritten / secs / 1e6).toFixed(1)} MB/s, write+fdatasync p50 ${p(0.5)} ms ` +
      `p99 ${p(0.99)} ms`,
  );
}

async function concurrent(dir: string, batch: number, savers: number): Promise<void> {
  const s = await openStorage(`${dir}/concurrent${batch}`, { fsync: "always" });
  let next = 1;
  let saves = 0;
  const start = performance.now();
  const worker = async () => {
    while (performance.now() - start < CONCURRENT_MS) {
      const first = next;
      next += batch;
      await s.save(null, entries(first, batch));
      saves++;
    }
  };
  await Promise.all(Array.from({ length: savers }, worker));
  const secs = (performance.now() - start) / 1000;
  const st = s.stats();
  await s.close();
  console.log(
    `batch=${batch} x${savers} concurrent savers: ${fmt((saves * batch) / secs)} entries/s, ` +
      `${(st.bytesWritten / secs / 1e6).toFixed(1)} MB/s in ${fmt(st.groupCommits / secs)} ` +
      `group commits/s (${(saves / st.groupCommits).toFixed(1)} saves per fdatasync)`,
  );
}

async function openTime(dir: string, batch: number): Promise<void> {
  const path = `${dir}/open${batch}`;
  let t = performance.now();
  const s = await openStorage(path, { fsync: "never" });
  for (let i = 1; i <= OPEN_ENTRIES; i += batch) await s.save(null, entries(i, batch));
  await s.close();
  const writeMs = performance.now() - t;
  t = performance.now();
  const r = await openStorage(path, { fsync: "never" });
  const openMs = performance.now() - t;
  if (r.lastIndex() !== OPEN_ENTRIES) throw new Error(`reopened ${r.lastIndex()} entries`);
  await r.close();
  console.log(
    `open ${fmt(OPEN_ENTRIES)} entries of ${ENTRY_BYTES} B: ${fmt(openMs)} ms ` +
      `(written in ${fmt(writeMs)} ms as batches of ${batch}, fsync never)`,
  );
}

const dir = await Deno.makeTempDir({ prefix: "raftkv_storage_bench_" });
try {
  for (const batch of [1, 16, 256]) await paired(dir, batch);
  await concurrent(dir, 1, 64);
  await concurrent(dir, 256, 4);
  for (const batch of OPEN_BATCHES) await openTime(dir, batch);
} finally {
  await Deno.remove(dir, { recursive: true });
}
