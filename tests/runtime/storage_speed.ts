/**
 * A small measurement, not a test: sequential one-entry saves (each its own write and
 * fdatasync) through the runtime seam, to compare the Deno and Bun file paths.
 *
 *   deno run -A tests/runtime/storage_speed.ts [saves]   |   bun run tests/runtime/storage_speed.ts [saves]
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { openStorage } from "../../src/storage/raft_storage.ts";
import { runtime } from "../../src/runtime/current.ts";
import { makeEntries } from "../storage/helpers.ts";

const saves = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync("/tmp/raftkv-speed-");
try {
  const storage = await openStorage(dir, { fsync: "always" });
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 1; i <= saves; i++) {
    const t = performance.now();
    await storage.save({ term: 1, vote: "n1", commit: i - 1 }, makeEntries(i, i, 1, 100));
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  await storage.close();
  latencies.sort((a, b) => a - b);
  const p = (q: number) => (latencies[Math.floor(q * (latencies.length - 1))]! * 1000).toFixed(0);
  console.log(
    `${runtime.name}: ${saves} saves in ${seconds.toFixed(2)} s (${
      (saves / seconds).toFixed(0)
    }/s), ` +
      `p50 ${p(0.5)} µs, p99 ${p(0.99)} µs, fdatasync calls ${runtime.syncs.fdatasync}`,
  );
} finally {
  rmSync(dir, { recursive: true });
}
