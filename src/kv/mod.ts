/**
 * The replicated key-value state machine: the one import point for `node/` and
 * `http/`. Envelope bytes in, results, watch events and snapshots out.
 *
 * @example
 * ```ts
 * import { encodeEnvelope, KvStore } from "./mod.ts";
 * const store = new KvStore();
 * const data = encodeEnvelope({
 *   command: { op: "put", key: "a", value: new Uint8Array([1]), ttlMs: null, ifModRevision: null, createOnly: false },
 *   idempotencyKey: null,
 *   nowMs: Date.now(),
 * });
 * store.apply(1, data); // { ok: true, value: { key: "a", createRevision: 1, modRevision: 1, version: 1 } }
 * ```
 *
 * @module
 */

export { decodeEnvelope, encodeEnvelope, ENVELOPE_FORMAT, maxEnvelopeBytes } from "./codec.ts";
export { DEFAULT_DEDUP_ENTRIES, DEFAULT_DEDUP_TTL_MS } from "./dedup.ts";
export {
  DEFAULT_KV_LIMITS,
  type KvLimits,
  MAX_IDEMPOTENCY_KEY_BYTES,
  MAX_KEY_BYTES,
  MAX_TTL_MS,
  MAX_VALUE_BYTES,
  validateIdempotencyKey,
  validateKey,
  validatePrefix,
  validateTtlMs,
  validateValue,
} from "./limits.ts";
export {
  SNAPSHOT_CHUNK_MAX_DEDUP,
  SNAPSHOT_CHUNK_MAX_KEYS,
  SNAPSHOT_CHUNK_TARGET_BYTES,
  SNAPSHOT_FORMAT,
} from "./snapshot.ts";
export {
  type KvEntry,
  type KvSnapshot,
  KvStore,
  type KvStoreOptions,
  type ListPage,
  MAX_LIST_PAGE_BYTES,
  MAX_STORE_LIST_LIMIT,
  MAX_SUBSCRIBERS,
  type WatchListener,
} from "./store.ts";
export { DEFAULT_WATCH_HISTORY, DEFAULT_WATCH_HISTORY_BYTES } from "./watch_ring.ts";
export {
  canonicalLeaseId,
  MAX_KEEPALIVE_BATCH_IDS,
  MAX_KEYS_PER_LEASE,
  MAX_LEASE_TTL_MS,
  MAX_LEASES,
  MIN_LEASE_TTL_FLOOR_MS,
  parseLeaseId,
  validateLeaseTtlMs,
} from "./leases.ts";
export {
  checkTxn,
  compareHolds,
  DEFAULT_TXN_LIST_LIMIT,
  isReadOnlyTxn,
  MAX_TXN_COMPARES,
  MAX_TXN_LIST_LIMIT,
  MAX_TXN_OPS,
} from "./txn.ts";
export type * from "./types.ts";
export type * from "./txn_types.ts";
