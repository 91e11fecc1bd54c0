/**
 * kv micro-benchmark: apply rate of 100-byte puts, and the cost of taking a snapshot
 * (the O(1) copy-on-write clone) at 1,000,000 keys, plus streaming and restoring it.
 * Prints figures; asserts nothing about timing.
 *
 *   deno run -A tests/bench/kv_bench.ts [--keys 1000000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { encodeEnvelope } from "../../src/kv/codec.ts";
import { KvStore } from "../../src/kv/store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { keys: { type: "string", default: "1000000" } },
});
const KEYS = Number(values.keys);
const NOW_MS = 1_700_000_000_000;
const VALUE = new Uint8Array(100).fill(7);

function put(key: string, idempotencyKey: string | null = null): Uint8Array {
  return encodeEnvelope({
    command: { op: "put", key, value: VALUE, ttlMs: null, ifModRevision: null, createOnly: false },
    idempotencyKey,
    nowMs: NOW_MS,
  });
}

function keyOf(i: number): string {
  return `bench/${String(i).padStart(8, "0")}`;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

const store = new KvStore();
let index = 0;

// 1. Apply rate: encode first so only apply is timed, in batches like the driver.
const BATCH = 100;
const WAVE = 100_000;
let applyMs = 0;
const encodeStart = performance.now();
let encodeMs = 0;
for (let start = 0; start < KEYS; start += WAVE) {
  const t0 = performance.now();
  const wave = [];
  for (let i = start; i < Math.min(start + WAVE, KEYS); i++) wave.push(put(keyOf(i)));
  encodeMs += performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < wave.length; i += BATCH) {
    store.applyBatch(wave.slice(i, i + BATCH).map((data) => ({ index: ++index, data })));
  }
  applyMs += performance.now() - t1;
}
console.log(
  `apply: ${fmt(KEYS)} new 100-byte puts in ${fmt(applyMs)} ms = ${
    fmt(KEYS / applyMs * 1000)
  } puts/s (encoding took ${fmt(encodeMs)} ms; total ${fmt(performance.now() - encodeStart)} ms)`,
);

const overwrites = [];
for (let i = 0; i < 100_000; i++) overwrites.push(put(keyOf((i * 7919) % KEYS)));
let t = performance.now();
for (const data of overwrites) store.apply(++index, data);
let ms = performance.now() - t;
console.log(`apply: 100,000 overwrites one by one = ${fmt(100_000 / ms * 1000)} puts/s`);

// 2. Snapshot clone at KEYS keys, then the first writes after it (they copy tree paths).
const clones: number[] = [];
let snap = store.snapshot();
for (let i = 0; i < 5; i++) {
  t = performance.now();
  snap = store.snapshot();
  clones.push(performance.now() - t);
}
console.log(
  `snapshot(): clone at ${fmt(store.size)} keys took ${
    clones.map((c) => c.toFixed(3)).join(", ")
  } ms`,
);
t = performance.now();
for (let i = 0; i < 1_000; i++) store.apply(++index, overwrites[i] ?? new Uint8Array());
console.log(
  `apply: first 1,000 puts after the clone took ${(performance.now() - t).toFixed(1)} ms`,
);

// 3. Stream the snapshot (while it is frozen) and restore it.
t = performance.now();
const chunks: Uint8Array[] = [];
let bytes = 0;
for await (const chunk of snap.chunks) {
  chunks.push(chunk);
  bytes += chunk.byteLength;
}
ms = performance.now() - t;
console.log(
  `snapshot stream: ${fmt(chunks.length)} chunks, ${fmt(bytes / 1048576)} MiB in ${fmt(ms)} ms`,
);
t = performance.now();
const restored = await KvStore.restore((async function* () {
  yield* chunks;
})());
console.log(`restore: ${fmt(restored.size)} keys in ${fmt(performance.now() - t)} ms`);

// 4. The dedup table is copied eagerly at snapshot time: its cost when full.
const dedupStore = new KvStore();
let dIndex = 0;
for (let i = 0; i < 100_000; i++) dedupStore.apply(++dIndex, put(keyOf(i % 1000), `req-${i}`));
const dedupTimes: number[] = [];
for (let i = 0; i < 3; i++) {
  t = performance.now();
  dedupStore.snapshot();
  dedupTimes.push(performance.now() - t);
}
console.log(
  `snapshot(): with ${fmt(dedupStore.dedupSize)} dedup entries took ${
    dedupTimes.map((c) => c.toFixed(2)).join(", ")
  } ms`,
);
