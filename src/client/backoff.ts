/**
 * Waiting between attempts: "equal jitter" exponential backoff. The random half keeps
 * clients that failed together from retrying together; the fixed half makes the retry
 * budget last a known minimum (long enough to ride out an election).
 *
 * @module
 */

import assert from "./assert.ts";

/** How long to wait between attempts. */
export interface BackoffPolicy {
  /** Ceiling of the first wait, in milliseconds; doubles per failure. */
  baseMs: number;
  /** Largest ceiling, in milliseconds. */
  maxMs: number;
  /** Uniform random numbers in [0, 1); injectable so tests can pin the jitter. */
  random: () => number;
}

/** The wait before retry number `failures` (1 for the first retry): uniform in [ceiling/2, ceiling]. */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  assert(failures >= 1, "backoff is asked for after a failure");
  const exponent = Math.min(failures - 1, 30); // 2^30 already exceeds any sane maxMs
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  const draw = policy.random();
  assert(draw >= 0 && draw < 1, "random() must return a number in [0, 1)");
  const half = Math.floor(ceiling / 2);
  return half + Math.floor(draw * (ceiling - half + 1));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
