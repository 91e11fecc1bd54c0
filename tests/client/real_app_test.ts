/**
 * The client against the real HTTP layer (`src/http/app.ts`) over a socket, with the
 * HTTP tests' in-memory node behind it: proves the client and the server agree on the
 * wire (paths, headers, status codes, JSON shapes, SSE framing), not just the fake.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createApp } from "../../src/http/app.ts";
import { DEFAULT_HTTP_OPTIONS } from "../../src/http/options.ts";
import { FakeNode } from "../http/fake_node.ts";
import { NotFound, PreconditionFailed, RevisionCompacted } from "../../src/client/mod.ts";
import { take, testClient } from "./helpers.ts";

async function withApp(body: (url: string, node: FakeNode) => Promise<void>): Promise<void> {
  const leaderNode = new FakeNode();
  const options = { ...DEFAULT_HTTP_OPTIONS, heartbeatMs: 50 };
  const leader = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp(leaderNode, options).fetch,
  );
  try {
    await body(`http://127.0.0.1:${leader.addr.port}`, leaderNode);
  } finally {
    await leader.shutdown();
  }
}

Deno.test("against the real HTTP app: put, get, CAS, delete, prefix delete", async () => {
  await withApp(async (url, node) => {
    const kv = testClient([url]);
    const key = "dir/sub dir/ü";
    const put = await kv.put(key, "v1", { ttlSeconds: 60 });
    assert.equal(put.key, key);
    const got = await kv.get(key);
    assert.equal(got?.text(), "v1");
    assert.equal(got?.modRevision, put.modRevision);
    assert.equal(got?.createRevision, put.createRevision);
    assert.ok(got?.expiresAt instanceof Date);
    assert.equal(await kv.get("absent"), null);
    const lost = await kv.put(key, "v2", { ifRevision: put.modRevision + 5 }).catch((e) => e);
    assert.ok(lost instanceof PreconditionFailed);
    assert.equal(lost.currentRevision, put.modRevision);
    await assert.rejects(kv.put(key, "v2", { createOnly: true }), PreconditionFailed);
    assert.equal(node.writes.at(-1)?.idempotencyKey?.length, 36);
    assert.equal((await kv.delete(key)).deleted, true);
    assert.equal((await kv.delete(key)).deleted, false);
    await kv.put("p/1", "a");
    await kv.put("p/2", "b");
    assert.equal((await kv.deletePrefix("p/")).deleted, 2);
    assert.equal((await kv.cluster.status()).role, "leader");
  });
});

Deno.test("against the real HTTP app: paged list with base64 values", async () => {
  await withApp(async (url) => {
    const kv = testClient([url]);
    for (let i = 0; i < 7; i++) await kv.put(`l/${i}`, new Uint8Array([0xff, i]));
    const items = [];
    for await (const item of kv.list("l/", { pageSize: 3 })) items.push(item);
    assert.deepEqual(items.map((item) => item.key), [
      "l/0",
      "l/1",
      "l/2",
      "l/3",
      "l/4",
      "l/5",
      "l/6",
    ]);
    assert.deepEqual(items[4]?.value, new Uint8Array([0xff, 4]));
  });
});

Deno.test("against the real HTTP app: watch history and live events, and 410", async () => {
  await withApp(async (url, node) => {
    const kv = testClient([url]);
    const first = await kv.put("w/a", "1");
    const events = take(kv.watch("w/", { fromRevision: first.modRevision }), 3);
    await kv.put("w/b", new Uint8Array([0xfe]));
    await kv.delete("w/a");
    const seen = await events;
    assert.deepEqual(seen.map((e) => `${e.type}:${e.key}`), ["put:w/a", "put:w/b", "delete:w/a"]);
    assert.deepEqual(seen[1]?.value, new Uint8Array([0xfe]));
    node.compactedBelow = 100;
    await assert.rejects(take(kv.watch("w/", { fromRevision: 1 }), 1), RevisionCompacted);
  });
});

Deno.test("against the real HTTP app: a wrong path prefix is NotFound, not a missing key", async () => {
  await withApp(async (url) => {
    const kv = testClient([`${url}/nowhere`]);
    await assert.rejects(kv.get("k"), NotFound);
  });
});
