/**
 * Storage benchmark (prints, never asserts). Run: deno run -A tests/bench/storage_bench.ts
 *
 * 1. Raw fdatasync rate of this disk: 4 KiB append + syncData in a loop.
 * 2. save() with fsync "always" at batch sizes 1, 16, 256 of 100-byte entries,
 *    one save at a time (the driver's pattern): batches/s, entries/s, MB/s.
 * 3. The same at batch 1 with 64 concurrent savers, showing group commit.
 * 4. Time to open a 1,000,000-entry log (written with fsync "never").
 *
 * Goals: batch-1 batches/s ≥ 80% of the raw fsync rate; ≥ 200,000 entries/s at batch
 * 256; opening 1M entries < 2 s. Runtime is bounded by PHASE_MS per phase.
 */

import type { Entry } from "../../src/raft/messages.ts";
import { openStorage } from "../../src/storage/raft_storage.ts";

const PHASE_MS = 4_000;
const ENTRY_BYTES = 100;
const OPEN_ENTRIES = 1_000_000;
/** Batch sizes the 1M-entry log is written with before timing its open. */
const OPEN_BATCHES = [1_000, 16];

const payload = new Uint8Array(ENTRY_BYTES).fill(7);
const entries = (from: number, n: number): Entry[] =>
  Array.from({ length: n }, (_, k) => ({ index: from + k, term: 1, type: 0, data: payload }));
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function rawFsyncRate(dir: string): Promise<number> {
  const f = await Deno.open(`${dir}/raw`, { write: true, create: true, truncate: true });
  const block = new Uint8Array(4096).fill(1);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < PHASE_MS) {
    await f.write(block);
    await f.syncData();
    n++;
  }
  f.close();
  return n / ((performance.now() - start) / 1000);
}

async function appendRate(dir: string, batch: number, concurrency: number) {
  const s = await openStorage(`${dir}/b${batch}c${concurrency}`, { fsync: "always" });
  let next = 1;
  let batches = 0;
  const start = performance.now();
  const worker = async () => {
    while (performance.now() - start < PHASE_MS) {
      const first = next;
      next += batch;
      await s.save({ term: 1, vote: "n1", commit: first - 1 }, entries(first, batch));
      batches++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - start) / 1000;
  const st = s.stats();
  await s.close();
  const sorted = [...st.fsyncLatencyMs].sort((a, b) => a - b);
  return {
    batchesPerSec: batches / secs,
    entriesPerSec: (batches * batch) / secs,
    mbPerSec: (st.bytesWritten / secs) / 1e6,
    groupCommits: st.groupCommits,
    p50: sorted[Math.floor(sorted.length / 2)] ?? 0,
    p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
  };
}

async function openTime(
  dir: string,
  batch: number,
): Promise<{ writeMs: number; openMs: number }> {
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
  return { writeMs, openMs };
}

const dir = await Deno.makeTempDir({ prefix: "raftkv_storage_bench_" });
try {
  const raw = await rawFsyncRate(dir);
  console.log(`raw fdatasync (4 KiB append + syncData): ${fmt(raw)}/s`);
  for (const batch of [1, 16, 256]) {
    const r = await appendRate(dir, batch, 1);
    console.log(
      `save batch=${batch} sequential: ${fmt(r.batchesPerSec)} batches/s ` +
        `(${Math.round((100 * r.batchesPerSec) / raw)}% of raw), ${fmt(r.entriesPerSec)} ` +
        `entries/s, ${r.mbPerSec.toFixed(1)} MB/s, fsync p50 ${r.p50.toFixed(2)} ms ` +
        `p99 ${r.p99.toFixed(2)} ms`,
    );
  }
  const g = await appendRate(dir, 1, 64);
  console.log(
    `save batch=1 x64 concurrent: ${fmt(g.entriesPerSec)} entries/s in ` +
      `${fmt(g.groupCommits)} group commits (${(g.entriesPerSec / raw).toFixed(1)}x raw)`,
  );
  // Shared VM disks drift: a second raw sample brackets the figures above.
  console.log(`raw fdatasync again (after the save phases): ${fmt(await rawFsyncRate(dir))}/s`);
  for (const batch of OPEN_BATCHES) {
    const o = await openTime(dir, batch);
    console.log(
      `open ${fmt(OPEN_ENTRIES)} entries of ${ENTRY_BYTES} B: ${fmt(o.openMs)} ms ` +
        `(written in ${fmt(o.writeMs)} ms, batches of ${batch}, fsync never)`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
