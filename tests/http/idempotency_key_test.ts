import assert from "node:assert/strict";
import { RaftkvError } from "../../src/errors.ts";
import { parseIdempotencyKey, parseTtlMs } from "../../src/http/validate.ts";
import {
  MAX_IDEMPOTENCY_KEY_BYTES,
  MAX_TTL_MS,
  MAX_TTL_SECONDS,
  validateIdempotencyKey,
} from "../../src/kv/limits.ts";

Deno.test("HTTP accepts exactly the Idempotency-Keys the state machine accepts (UTF-8 bytes)", () => {
  const ascii = "x".repeat(MAX_IDEMPOTENCY_KEY_BYTES);
  assert.equal(parseIdempotencyKey(ascii), ascii);
  validateIdempotencyKey(ascii);
  // A header character above U+007F takes two UTF-8 bytes: half as many fit.
  const wide = "é".repeat(MAX_IDEMPOTENCY_KEY_BYTES / 2);
  assert.equal(parseIdempotencyKey(wide), wide);
  validateIdempotencyKey(wide);
  for (const tooLong of [ascii + "x", wide + "é"]) {
    assert.throws(() => parseIdempotencyKey(tooLong), RaftkvError);
    assert.throws(() => validateIdempotencyKey(tooLong), RaftkvError);
  }
  assert.throws(() => parseIdempotencyKey(""), RaftkvError);
});

Deno.test("HTTP's ttl bound is the state machine's, in seconds", () => {
  assert.equal(parseTtlMs(String(MAX_TTL_SECONDS)), MAX_TTL_MS);
  assert.throws(() => parseTtlMs(String(MAX_TTL_SECONDS + 1)), RaftkvError);
});
