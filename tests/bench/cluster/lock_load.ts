/**
 * The lock rows of `bench:cluster`: `contenders` loops in this process, each acquiring
 * and releasing one shared lock over and over for `seconds`. One sample is one
 * acquire+release, timed from the start of the acquire to the end of the release, so
 * with several contenders it includes the wait for the others (the figure that matters
 * to a user of a contended lock); ops/s is completed acquire+release pairs per second.
 *
 * A Deno script rather than wrk: a lock is a conversation (grant, create, maybe wait
 * on a watch, revoke), not one request. raftkv is driven through its own client
 * (`kv.lock`), etcd through the same recipe over its v3 JSON gateway (etcd_lock.ts).
 *
 * @module
 */

import type { WrkResult } from "./wrk.ts";

/** A held lock, released by calling it. */
export type Release = () => Promise<void>;

/** Acquires the shared lock (waiting as long as it takes, or until `signal`). */
export type Acquire = (signal: AbortSignal) => Promise<Release>;

/** Options of {@link runLockLoad}. */
export interface LockLoad {
  contenders: number;
  seconds: number;
  acquire: Acquire;
  /** Stops the run early when aborted. */
  signal?: AbortSignal;
}

/** Longest a single acquire may wait before the run counts it as an error. */
export const LOCK_ACQUIRE_TIMEOUT_MS = 10_000;
/** Samples kept per run at most (one per acquire+release; beyond it only the count grows). */
export const MAX_LOCK_SAMPLES = 1_000_000;

/** Runs the load and returns figures in wrk's shape (errors counted as `errStatus`). */
export async function runLockLoad(load: LockLoad): Promise<WrkResult> {
  const samplesUs: number[] = [];
  let errors = 0;
  let completed = 0;
  const started = performance.now();
  const endAt = started + load.seconds * 1000;
  await Promise.all(Array.from({ length: load.contenders }, async () => {
    while (performance.now() < endAt && !load.signal?.aborted) {
      const t0 = performance.now();
      const timeout = AbortSignal.timeout(LOCK_ACQUIRE_TIMEOUT_MS);
      const signal = load.signal ? AbortSignal.any([load.signal, timeout]) : timeout;
      try {
        const release = await load.acquire(signal);
        await release();
        completed++;
        if (samplesUs.length < MAX_LOCK_SAMPLES) samplesUs.push((performance.now() - t0) * 1000);
      } catch {
        errors++;
      }
    }
  }));
  const durationUs = (performance.now() - started) * 1000;
  samplesUs.sort((a, b) => a - b);
  const pct = (p: number) =>
    samplesUs.length === 0
      ? 0
      : samplesUs[Math.min(samplesUs.length - 1, Math.floor((p / 100) * samplesUs.length))] ?? 0;
  const meanUs = samplesUs.length === 0
    ? 0
    : samplesUs.reduce((a, b) => a + b, 0) / samplesUs.length;
  return {
    requests: completed + errors,
    durationUs,
    p50Us: pct(50),
    p99Us: pct(99),
    p999Us: pct(99.9),
    meanUs,
    errConnect: 0,
    errRead: 0,
    errWrite: 0,
    errStatus: errors,
    errTimeout: 0,
    opsPerSec: completed / (durationUs / 1e6),
  };
}
