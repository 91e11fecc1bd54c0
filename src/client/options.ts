/**
 * Per-call options of the client's methods.
 *
 * @module
 */

import type { Consistency } from "./types.ts";

/** Options of `get`. */
export interface GetOptions {
  /** Default `linearizable`. `stale` starts at the first endpoint (your nearest node). */
  consistency?: Consistency;
  /** Aborts the call (all attempts); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `put`. */
export interface PutOptions {
  /** The key expires this many seconds after the write (a positive integer). */
  ttlSeconds?: number;
  /** Compare-and-set: write only if the key's modRevision is this (0: must not exist). */
  ifRevision?: number;
  /** Write only if the key does not exist. */
  createOnly?: boolean;
  /** Exactly-once key sent on every attempt; a fresh `crypto.randomUUID()` by default. */
  idempotencyKey?: string;
  /** Aborts the call; a write already sent may still be applied. */
  signal?: AbortSignal;
}

/** Options of `delete`. */
export interface DeleteOptions {
  /** Compare-and-delete: delete only if the key's modRevision is this. */
  ifRevision?: number;
  /** Exactly-once key sent on every attempt; a fresh `crypto.randomUUID()` by default. */
  idempotencyKey?: string;
  /** Aborts the call; a delete already sent may still be applied. */
  signal?: AbortSignal;
}

/** Options of `deletePrefix`. */
export interface DeletePrefixOptions {
  /** Must be true to delete every key with the empty prefix. */
  all?: boolean;
  /** Exactly-once key sent on every attempt; a fresh `crypto.randomUUID()` by default. */
  idempotencyKey?: string;
  /** Aborts the call; a delete already sent may still be applied. */
  signal?: AbortSignal;
}

/** Options of `list`. */
export interface ListOptions {
  /** Most keys to yield in total; all matching keys when absent. */
  limit?: number;
  /** Keys per request, 1 to 1000; default 100. */
  pageSize?: number;
  /** Default `linearizable`; each page is its own read at its own revision. */
  consistency?: Consistency;
  /** Aborts the listing. */
  signal?: AbortSignal;
}

/** Options of `watch`. */
export interface WatchOptions {
  /**
   * First revision to deliver. Absent: the watch starts after the store revision read
   * (linearizably) when iteration begins, so it reports every later change.
   */
  fromRevision?: number;
  /** Ends the watch: iteration then finishes without an error. */
  signal?: AbortSignal;
  /** Reconnect when the stream sends nothing, not even a heartbeat, for this long. */
  idleTimeoutMs?: number;
}

/** Options of `cluster.status` and `cluster.info`. */
export interface ClusterCallOptions {
  /** Ask this endpoint only (any base URL, listed or not) instead of rotating. */
  endpoint?: string;
  /** Aborts the call. */
  signal?: AbortSignal;
}
