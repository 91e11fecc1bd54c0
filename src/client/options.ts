/**
 * Per-call options of the client's methods.
 *
 * @module
 */

import type { LeaseRef } from "./lease_id.ts";
import type { Consistency } from "./types.ts";

/**
 * Options of `get`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const value = await kv.get("k", { consistency: "lease", signal: AbortSignal.timeout(1000) });
 * ```
 */
export interface GetOptions {
  /** Default `linearizable`. `stale` starts at the first endpoint (your nearest node). */
  consistency?: Consistency;
  /** Aborts the call (all attempts); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Options of `put`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.put("lock/a", "me", { createOnly: true, ttlSeconds: 30, idempotencyKey: "req-17" });
 * ```
 */
export interface PutOptions {
  /** The key expires this many seconds after the write (a positive integer). */
  ttlSeconds?: number;
  /**
   * Attach the key to this lease (an id or a `kv.lease()` handle): it is deleted when the
   * lease expires or is revoked. Excludes `ttlSeconds`; a put without it detaches.
   */
  lease?: LeaseRef;
  /** Compare-and-set: write only if the key's modRevision is this (0: must not exist). */
  ifRevision?: number;
  /** Write only if the key does not exist. */
  createOnly?: boolean;
  /** Exactly-once key sent on every attempt; a fresh `crypto.randomUUID()` by default. */
  idempotencyKey?: string;
  /** Aborts the call; a write already sent may still be applied. */
  signal?: AbortSignal;
}

/**
 * Options of `delete`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { modRevision } = await kv.put("lock/a", "me");
 * await kv.delete("lock/a", { ifRevision: modRevision });
 * ```
 */
export interface DeleteOptions {
  /** Compare-and-delete: delete only if the key's modRevision is this. */
  ifRevision?: number;
  /** Exactly-once key sent on every attempt; a fresh `crypto.randomUUID()` by default. */
  idempotencyKey?: string;
  /** Aborts the call; a delete already sent may still be applied. */
  signal?: AbortSignal;
}

/**
 * Options of `deletePrefix`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.deletePrefix("", { all: true }); // wipes every key
 * ```
 */
export interface DeletePrefixOptions {
  /** Must be true to delete every key with the empty prefix. */
  all?: boolean;
  /** Exactly-once key sent on every attempt; a fresh `crypto.randomUUID()` by default. */
  idempotencyKey?: string;
  /** Aborts the call; a delete already sent may still be applied. */
  signal?: AbortSignal;
}

/**
 * Options of `list`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * for await (const item of kv.list("logs/", { limit: 50, pageSize: 25, consistency: "stale" })) {
 *   console.log(item.key);
 * }
 * ```
 */
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

/**
 * Options of `watch`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(), 60_000);
 * for await (const event of kv.watch("jobs/", { fromRevision: 1, signal: controller.signal })) {
 *   console.log(event.key);
 * }
 * ```
 */
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
  /** Watch exactly the key given instead of every key under that prefix (`?key=`). */
  exact?: boolean;
}

/**
 * Options of `cluster.status` and `cluster.info`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const status = await kv.cluster.status({ endpoint: "http://127.0.0.1:8081" });
 * ```
 */
export interface ClusterCallOptions {
  /** Ask this endpoint only (any base URL, listed or not) instead of rotating. */
  endpoint?: string;
  /** Aborts the call. */
  signal?: AbortSignal;
}
