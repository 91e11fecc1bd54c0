/**
 * Input limits of the key-value state machine and the validators that enforce them.
 * `http/` calls the validators before proposing; `KvStore.apply` calls them again so
 * a bad entry that reaches the log is refused identically on every replica.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";

/** Largest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4 * 1024;
/** Largest value, in bytes. */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** Largest `Idempotency-Key`, in UTF-8 bytes. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 256;
/**
 * Longest time to live, in seconds: ten years keeps `clockMs + ttlMs` far inside safe
 * integers. HTTP's `?ttl=` is checked against it; the client keeps a copy (it imports
 * nothing from the server) that tests/client/limits_equal_test.ts holds equal.
 */
export const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;
/** Longest time to live, in milliseconds (what entries carry). */
export const MAX_TTL_MS = MAX_TTL_SECONDS * 1000;
/** Envelope overhead beyond key and value (CBOR framing, numbers, idempotency key). */
export const ENVELOPE_OVERHEAD_BYTES = 1024;

const encoder = new TextEncoder();

/** Size limits that every replica must share (they decide what apply accepts). */
export interface KvLimits {
  /** Largest key or prefix, in UTF-8 bytes. */
  maxKeyBytes: number;
  /** Largest value, in bytes. */
  maxValueBytes: number;
}

/** The default limits. */
export const DEFAULT_KV_LIMITS: Readonly<KvLimits> = Object.freeze({
  maxKeyBytes: MAX_KEY_BYTES,
  maxValueBytes: MAX_VALUE_BYTES,
});

/** UTF-8 length of `text` when it may exceed `limitBytes`; a lower bound otherwise. */
function utf8LengthUpTo(text: string, limitBytes: number): number {
  // Every UTF-16 unit is at most 3 UTF-8 bytes, so short strings need no encoding.
  if (text.length * 3 <= limitBytes) return text.length;
  return encoder.encode(text).byteLength;
}

/**
 * Throws `bad_request` unless `key` is a non-empty well-formed string, and
 * `too_large` if its UTF-8 form exceeds `maxKeyBytes`.
 */
export function validateKey(key: unknown, maxKeyBytes: number = MAX_KEY_BYTES): void {
  validateText("key", key, maxKeyBytes, false);
}

/** Like {@link validateKey}, but the empty prefix (every key) is allowed. */
export function validatePrefix(prefix: unknown, maxKeyBytes: number = MAX_KEY_BYTES): void {
  validateText("prefix", prefix, maxKeyBytes, true);
}

/** Throws `bad_request` unless `key` is a non-empty well-formed string of bounded size. */
export function validateIdempotencyKey(key: unknown): void {
  validateText("idempotency key", key, MAX_IDEMPOTENCY_KEY_BYTES, false);
}

/** Throws `bad_request` unless `value` is bytes, `too_large` above `maxValueBytes`. */
export function validateValue(value: unknown, maxValueBytes: number = MAX_VALUE_BYTES): void {
  if (!(value instanceof Uint8Array)) {
    throw new RaftkvError("bad_request", "value must be bytes");
  }
  if (value.byteLength > maxValueBytes) {
    throw new RaftkvError(
      "too_large",
      `value is ${value.byteLength} bytes; the limit is ${maxValueBytes}`,
    );
  }
}

/** Throws `bad_request` unless `ttlMs` is null or an integer in 1..MAX_TTL_MS. */
export function validateTtlMs(ttlMs: unknown): void {
  if (ttlMs === null) return;
  if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < 1 || (ttlMs as number) > MAX_TTL_MS) {
    throw new RaftkvError("bad_request", `ttlMs must be an integer in 1..${MAX_TTL_MS}`);
  }
}

function validateText(what: string, text: unknown, maxBytes: number, emptyOk: boolean): void {
  if (typeof text !== "string") throw new RaftkvError("bad_request", `${what} must be a string`);
  if (!emptyOk && text.length === 0) {
    throw new RaftkvError("bad_request", `${what} must not be empty`);
  }
  // Lone surrogates have no UTF-8 form: they would not survive HTTP or CBOR round trips.
  if (!text.isWellFormed()) {
    throw new RaftkvError("bad_request", `${what} is not well-formed Unicode`);
  }
  const bytes = utf8LengthUpTo(text, maxBytes);
  if (bytes > maxBytes) {
    throw new RaftkvError("too_large", `${what} is ${bytes} bytes; the limit is ${maxBytes}`);
  }
}
