/**
 * HEAD on a key answers what GET would, without the body, through the runtime's real
 * HTTP server: an audit's `curl -I` of a 5-byte value said `content-length: 0`.
 */

import assert from "node:assert/strict";
import { createApp } from "../../src/http/app.ts";
import { FakeNode } from "./fake_node.ts";
import { put, TEST_OPTIONS } from "./helpers.ts";

Deno.test("HEAD /v1/kv/{key} through Deno.serve gives GET's headers and length, no body", async () => {
  const app = createApp(new FakeNode(), TEST_OPTIONS);
  assert.equal((await put(app, "k", "hello")).status, 200);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    const url = `http://127.0.0.1:${server.addr.port}/v1/kv/k`;
    const get = await fetch(url);
    assert.equal(await get.text(), "hello");
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "5");
    for (const name of ["etag", "x-raftkv-revision", "x-raftkv-version", "content-type"]) {
      assert.equal(head.headers.get(name), get.headers.get(name), name);
    }
    assert.equal(await head.text(), "");
    const missing = await fetch(`${url}-missing`, { method: "HEAD" });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/json");
    await missing.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("HEAD /v1/kv/{key} in process has no body and GET's Content-Length", async () => {
  const app = createApp(new FakeNode(), TEST_OPTIONS);
  assert.equal((await put(app, "k", "hello")).status, 200);
  const head = await app.request("/v1/kv/k", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Content-Length"), "5");
  assert.equal(head.body, null);
});
