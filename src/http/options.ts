/**
 * Configuration of the HTTP API, with the defaults `main.ts` should use.
 *
 * @module
 */

import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from "../kv/limits.ts";
import type { AuthConfig } from "./auth.ts";
import type { HttpMetrics } from "./routes/metrics.ts";

/** Limits and knobs of the HTTP API. */
export interface HttpOptions {
  /** Longest key, in UTF-8 bytes; longer keys answer 413. */
  maxKeyBytes: number;
  /** Largest value, in bytes; larger bodies answer 413 (checked before and while reading). */
  maxValueBytes: number;
  /** Most concurrent watches (SSE streams and long polls) on this node; more answer 429. */
  maxWatchers: number;
  /** Origins allowed by CORS; `["*"]` allows any; empty turns CORS off. */
  corsOrigins: string[];
  /** Deadline of a write (and of a read or a forwarded request), in milliseconds. */
  requestTimeoutMs: number;
  /** The fetch used to forward writes to the leader; injectable for tests. */
  fetch?: typeof fetch;
  /** Interval between SSE heartbeat comments; defaults to {@link DEFAULT_HEARTBEAT_MS}. */
  heartbeatMs?: number;
  /** Bearer tokens; absent or empty means no authentication. */
  auth?: AuthConfig;
  /** Where request counts and latencies go, and what `GET /metrics` serves; absent: no /metrics. */
  metrics?: HttpMetrics;
  /**
   * Shortest lease TTL a grant may ask for, in ms: 1.5 × the base election timeout, so a
   * lease outlives the leader change it may have to survive. Default
   * {@link DEFAULT_MIN_LEASE_TTL_MS} (the default flags' value).
   */
  minLeaseTtlMs?: number;
}

/** Shortest lease TTL with the default flags: 1.5 × (10 ticks × 100 ms). */
export const DEFAULT_MIN_LEASE_TTL_MS = 1_500;

/** Default longest key: the state machine's default (kv/limits.ts), 4 KiB. */
export const DEFAULT_MAX_KEY_BYTES = MAX_KEY_BYTES;
/** Default largest value: the state machine's default (kv/limits.ts), 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = MAX_VALUE_BYTES;
/** Default cap on concurrent watches per node. */
export const DEFAULT_MAX_WATCHERS = 1000;
/** Default write deadline. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Default interval between SSE heartbeats: keeps proxies from closing idle streams. */
export const DEFAULT_HEARTBEAT_MS = 15_000;

/** The defaults, for callers that only override a few fields. */
export const DEFAULT_HTTP_OPTIONS: Readonly<HttpOptions> = {
  maxKeyBytes: DEFAULT_MAX_KEY_BYTES,
  maxValueBytes: DEFAULT_MAX_VALUE_BYTES,
  maxWatchers: DEFAULT_MAX_WATCHERS,
  corsOrigins: [],
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
};
