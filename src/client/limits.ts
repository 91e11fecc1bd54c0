/**
 * Every default and bound of the client in one place, so each queue, buffer and
 * budget has a named limit (units last in names).
 *
 * @module
 */

/** Default deadline of one attempt (one request to one endpoint), in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/**
 * Default number of retries after the first attempt: with the default backoff they wait
 * at least 3.5 s in all, longer than an election (1-2 s with the node's default timings).
 */
export const DEFAULT_RETRIES = 8;
/** Most retries a caller may ask for: a bound on how long one call can keep going. */
export const MAX_RETRIES = 100;
/** Most endpoints one client may rotate over. */
export const MAX_ENDPOINTS = 64;
/** First backoff ceiling; doubles per retry up to {@link DEFAULT_BACKOFF_MAX_MS}. */
export const DEFAULT_BACKOFF_BASE_MS = 50;
/** Largest backoff ceiling between two attempts (and between watch reconnects). */
export const DEFAULT_BACKOFF_MAX_MS = 2_000;
/** Longest `Retry-After` the client honours; a larger hint is cut to this. */
export const MAX_RETRY_AFTER_MS = 10_000;
/** Largest error body read; the rest is discarded (only code and message matter). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Largest small JSON answer read (a put, delete or status result). */
export const MAX_SMALL_ANSWER_BYTES = 64 * 1024;
/** Largest successful answer read (a value, or a JSON page); larger answers fail. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Longest single Server-Sent Event (all its lines), in UTF-16 characters; longer fails. */
export const MAX_SSE_EVENT_CHARS = 8 * 1024 * 1024;
/** Default: reconnect a watch that has sent nothing, not even a heartbeat, this long. */
export const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 45_000;
/** Default number of keys one list request asks for. */
export const DEFAULT_LIST_PAGE_SIZE = 100;
/** Largest page the server serves; larger `pageSize` values are refused locally. */
export const MAX_LIST_PAGE_SIZE = 1_000;
/** Longest Idempotency-Key the server accepts, in characters. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;
/** Longest TTL the server accepts: ten years, in seconds. */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;
/** Most compares in one transaction (the server's limit, checked before sending). */
export const MAX_TXN_COMPARES = 128;
/** Most operations in one transaction branch (the server's limit). */
export const MAX_TXN_OPS = 128;
/** Longest lease the client asks for: one day, in seconds (the server's default maximum). */
export const MAX_LEASE_TTL_SECONDS = 24 * 3600;
/** Keys one lock/election queue read fetches per page. */
export const QUEUE_PAGE_SIZE = 1_000;
/** Default lease of a lock or an election campaign, in seconds (etcd's session default). */
export const DEFAULT_LOCK_TTL_SECONDS = 60;
/** Shortest gap between two keepalive attempts of a lease, in milliseconds. */
export const MIN_KEEPALIVE_RETRY_MS = 50;
