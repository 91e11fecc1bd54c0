/**
 * A GET answers the stored value without copying it first: these pin what makes that
 * safe, through the runtime's real HTTP server (Deno.serve's native response path) and
 * in process: a value that is a view into a larger buffer is answered with exactly the
 * view's bytes, and the buffer stays attached and unchanged for the next reader.
 */

import assert from "node:assert/strict";
import { createApp } from "../../src/http/app.ts";
import { FakeNode } from "./fake_node.ts";
import { TEST_OPTIONS } from "./helpers.ts";

function nodeWithViewValue(): {
  node: FakeNode;
  big: Uint8Array<ArrayBuffer>;
  view: Uint8Array;
} {
  const node = new FakeNode();
  const big = new Uint8Array(new ArrayBuffer(1000));
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const view = big.subarray(100, 200);
  node.keys.set("k", {
    key: "k",
    value: view,
    createRevision: 1,
    modRevision: 1,
    version: 1,
    expiresAtMs: null,
    lease: null,
  });
  return { node, big, view };
}

Deno.test("GET through Deno.serve answers a view's bytes only and leaves its buffer attached", async () => {
  const { node, big, view } = nodeWithViewValue();
  const app = createApp(node, TEST_OPTIONS);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/v1/kv/k`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.bytes(), big.slice(100, 200));
      assert.equal(big.buffer.detached, false);
      assert.equal(view.byteLength, 100);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("GET in process answers a view's bytes only and leaves its buffer attached", async () => {
  const { node, big, view } = nodeWithViewValue();
  const app = createApp(node, TEST_OPTIONS);
  for (const query of ["", "?consistency=stale"]) {
    const res = await app.request(`/v1/kv/k${query}`);
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), big.slice(100, 200));
    assert.equal(big.buffer.detached, false);
    assert.equal(view.byteLength, 100);
  }
});
