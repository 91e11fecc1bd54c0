import assert from "node:assert/strict";
import { mergeAddress } from "../../src/node/member_book.ts";

const learned = { peerAddr: "127.0.0.1:7002", httpUrl: "http://127.0.0.1:8002" };

Deno.test("an address without an HTTP URL keeps the one learned for the same peer address", () => {
  // The bootstrap entry of --initial-cluster n2=127.0.0.1:7002, replayed at a restart.
  const replayed = { peerAddr: "127.0.0.1:7002", httpUrl: null };
  assert.deepEqual(mergeAddress(learned, replayed), learned);
  assert.deepEqual(mergeAddress(undefined, replayed), replayed);
});

Deno.test("a configured HTTP URL or a moved peer address replaces what was known", () => {
  const configured = { peerAddr: "127.0.0.1:7002", httpUrl: "http://lb.test:8002" };
  assert.deepEqual(mergeAddress(learned, configured), configured);
  const moved = { peerAddr: "127.0.0.1:7102", httpUrl: null };
  assert.deepEqual(mergeAddress(learned, moved), moved, "a URL of the old address is dropped");
});
