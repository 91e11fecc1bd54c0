/**
 * The client imports nothing from the server, so it keeps its own copies of the
 * server's limits and wire names. This test holds each copy equal to the server's one
 * definition: change one without the other and it fails.
 */
import assert from "node:assert/strict";
import { KEY_PATH_PREFIX as CLIENT_KEY_PATH_PREFIX } from "../../src/client/key_path.ts";
import { REVISION_HEADER as CLIENT_REVISION_HEADER } from "../../src/client/keys.ts";
import {
  DEFAULT_LIST_PAGE_SIZE,
  MAX_IDEMPOTENCY_KEY_CHARS,
  MAX_LIST_PAGE_SIZE,
  MAX_TTL_SECONDS as CLIENT_MAX_TTL_SECONDS,
} from "../../src/client/limits.ts";
import { KEY_PATH_PREFIX, REVISION_HEADER } from "../../src/http/routes/kv.ts";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "../../src/http/validate.ts";
import { MAX_IDEMPOTENCY_KEY_BYTES, MAX_TTL_MS, MAX_TTL_SECONDS } from "../../src/kv/limits.ts";

Deno.test("the client's copies of server limits equal the server's definitions", () => {
  assert.equal(CLIENT_MAX_TTL_SECONDS, MAX_TTL_SECONDS, "TTL bound");
  assert.equal(MAX_TTL_SECONDS * 1000, MAX_TTL_MS, "TTL bound in ms is the same limit");
  // The client counts characters and the server UTF-8 bytes: equal for the ASCII keys
  // the client generates (UUIDs); a longer non-ASCII key gets the server's 400.
  assert.equal(MAX_IDEMPOTENCY_KEY_CHARS, MAX_IDEMPOTENCY_KEY_BYTES, "Idempotency-Key bound");
  assert.equal(MAX_LIST_PAGE_SIZE, MAX_LIST_LIMIT, "largest list page");
  assert.equal(DEFAULT_LIST_PAGE_SIZE, DEFAULT_LIST_LIMIT, "default list page");
});

Deno.test("the client's copies of wire names equal the server's definitions", () => {
  assert.equal(CLIENT_KEY_PATH_PREFIX, KEY_PATH_PREFIX);
  assert.equal(CLIENT_REVISION_HEADER, REVISION_HEADER);
});
