import assert from "node:assert/strict";
import { backoffDelayMs } from "../../src/client/backoff.ts";
import {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_RETRIES,
} from "../../src/client/limits.ts";
import { isWellFormed, keyPath } from "../../src/client/key_path.ts";
import { WatchCursor } from "../../src/client/watch_cursor.ts";
import { SEED, seededRandom } from "./helpers.ts";

Deno.test("backoff stays within [ceiling / 2, ceiling], ceiling = min(maxMs, baseMs * 2^(n-1))", () => {
  const random = seededRandom(SEED);
  const policy = { baseMs: 10, maxMs: 300, random };
  for (let failures = 1; failures <= 40; failures++) {
    const ceiling = Math.min(300, 10 * 2 ** (failures - 1));
    for (let i = 0; i < 50; i++) {
      const delay = backoffDelayMs(failures, policy);
      assert.ok(
        delay >= ceiling / 2 - 1 && delay <= ceiling,
        `seed ${SEED}: ${delay} / ${ceiling}`,
      );
    }
  }
  assert.equal(backoffDelayMs(3, { baseMs: 10, maxMs: 300, random: () => 0.999999 }), 40);
  assert.equal(backoffDelayMs(3, { baseMs: 10, maxMs: 300, random: () => 0 }), 20);
});

Deno.test("the default retries wait at least 3.5 s in all: longer than an election", () => {
  const least = { baseMs: DEFAULT_BACKOFF_BASE_MS, maxMs: DEFAULT_BACKOFF_MAX_MS, random: () => 0 };
  let totalMs = 0;
  for (let failures = 1; failures <= DEFAULT_RETRIES; failures++) {
    totalMs += backoffDelayMs(failures, least);
  }
  assert.ok(totalMs >= 3_500, `${totalMs} ms`);
});

Deno.test("key paths encode each segment, and dot segments as one encoded key", () => {
  assert.equal(keyPath("a/b c/ü"), "/v1/kv/a/b%20c/%C3%BC");
  assert.equal(keyPath("a/../b"), "/v1/kv/a%2F..%2Fb");
  assert.equal(keyPath("q?x#y"), "/v1/kv/q%3Fx%23y");
});

Deno.test("the watch cursor resumes at the last event's revision, skipping its keys", () => {
  const cursor = new WatchCursor(5);
  assert.equal(cursor.accept({ type: "put", revision: 5, key: "a" }), true);
  assert.equal(cursor.resumeAt, 5);
  assert.equal(cursor.accept({ type: "put", revision: 5, key: "a" }), false);
  // A transaction puts several keys at one revision: none may be dropped.
  assert.equal(cursor.accept({ type: "put", revision: 5, key: "b" }), true);
  assert.equal(cursor.accept({ type: "delete", revision: 7, key: "a" }), true);
  assert.equal(cursor.accept({ type: "delete", revision: 7, key: "b" }), true);
  assert.equal(cursor.resumeAt, 7);
  // A reconnect at 7 replays a and b, then brings c of the same revision.
  assert.equal(cursor.accept({ type: "delete", revision: 7, key: "a" }), false);
  assert.equal(cursor.accept({ type: "delete", revision: 7, key: "b" }), false);
  assert.equal(cursor.accept({ type: "put", revision: 7, key: "c" }), true);
  assert.equal(cursor.accept({ type: "put", revision: 6, key: "z" }), false);
  assert.equal(cursor.accept({ type: "put", revision: 8, key: "a" }), true);
  assert.equal(cursor.resumeAt, 8);
});

Deno.test("lone surrogates are found wherever they sit; pairs pass", () => {
  assert.equal(isWellFormed("a😀b"), true);
  assert.equal(isWellFormed(""), true);
  for (const bad of ["\ud800", "a\ud800b", "\udc00", "x\udc00\ud800", "😀\ud83d"]) {
    assert.equal(isWellFormed(bad), false, JSON.stringify(bad));
  }
});
