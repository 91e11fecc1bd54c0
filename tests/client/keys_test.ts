import assert from "node:assert/strict";
import { BadRequest, PreconditionFailed, Unauthorized } from "../../src/client/mod.ts";
import { testClient, withCluster } from "./helpers.ts";

Deno.test("put then get returns the value, its revisions and text()", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const put = await kv.put("greeting", "hello");
    assert.deepEqual(put, { key: "greeting", createRevision: 1, modRevision: 1, version: 1 });
    const got = await kv.get("greeting");
    assert.ok(got !== null);
    assert.equal(got.text(), "hello");
    assert.equal(got.modRevision, 1);
    assert.equal(got.createRevision, 1);
    assert.equal(got.version, 1);
    assert.equal(got.revision, 1);
  });
});

Deno.test("get of a missing key resolves null instead of throwing", async () => {
  await withCluster(1, async (cluster) => {
    assert.equal(await testClient(cluster.urls).get("nope"), null);
  });
});

Deno.test("binary values round-trip byte for byte", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const bytes = new Uint8Array([0, 255, 128, 10, 13, 0xc3]);
    await kv.put("bin", bytes);
    assert.deepEqual((await kv.get("bin"))?.value, bytes);
  });
});

Deno.test("keys with slashes, spaces, unicode and dot segments reach the server intact", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const keys = ["a/b/c", "with space/ü€😀", "a/../b", "./x", "q?x=1#h", "100%/+"];
    for (const key of keys) await kv.put(key, key);
    assert.deepEqual([...cluster.store.keys.keys()].sort(), [...keys].sort());
    for (const key of keys) assert.equal((await kv.get(key))?.text(), key);
  });
});

Deno.test("a lost compare-and-set throws PreconditionFailed naming the current revision, once", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const first = await kv.put("k", "1");
    const second = await kv.put("k", "2", { ifRevision: first.modRevision });
    assert.equal(second.version, 2);
    const before = cluster.requests("PUT").length;
    const error = await kv.put("k", "3", { ifRevision: first.modRevision }).catch((e) => e);
    assert.ok(error instanceof PreconditionFailed);
    assert.equal(error.status, 412);
    assert.equal(error.currentRevision, second.modRevision);
    assert.equal(cluster.requests("PUT").length, before + 1, "412 is never retried");
    assert.equal(cluster.requests("PUT").at(-1)?.headers.get("If-Match"), `"${first.modRevision}"`);
  });
});

Deno.test("createOnly writes only when the key is absent", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await kv.put("once", "a", { createOnly: true });
    await assert.rejects(kv.put("once", "b", { createOnly: true }), PreconditionFailed);
    assert.equal(cluster.requests("PUT").at(-1)?.headers.get("If-None-Match"), "*");
    assert.equal((await kv.get("once"))?.text(), "a");
  });
});

Deno.test("put sends ttl, the given Idempotency-Key and an octet-stream body", async () => {
  await withCluster(1, async (cluster) => {
    await testClient(cluster.urls).put("t", "v", { ttlSeconds: 30, idempotencyKey: "op-1" });
    const request = cluster.requests("PUT")[0];
    assert.equal(request?.search.get("ttl"), "30");
    assert.equal(request?.headers.get("Idempotency-Key"), "op-1");
    assert.equal(request?.headers.get("Content-Type"), "application/octet-stream");
  });
});

Deno.test("every write carries a fresh Idempotency-Key when none is given", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await kv.put("a", "1");
    await kv.delete("a");
    await kv.deletePrefix("a");
    const keys = cluster.log.map((r) => r.headers.get("Idempotency-Key"));
    assert.equal(keys.length, 3);
    assert.ok(keys.every((key) => key !== null && /^[0-9a-f-]{36}$/.test(key)));
    assert.equal(new Set(keys).size, 3);
  });
});

Deno.test("delete reports whether the key existed, with the store revision", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await kv.put("d", "x");
    assert.deepEqual(await kv.delete("d"), { deleted: true, revision: 2 });
    assert.deepEqual(await kv.delete("d"), { deleted: false, revision: 2 });
  });
});

Deno.test("delete with ifRevision refuses a stale revision", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const { modRevision } = await kv.put("d", "x");
    await kv.put("d", "y");
    await assert.rejects(kv.delete("d", { ifRevision: modRevision }), PreconditionFailed);
    assert.equal((await kv.delete("d", { ifRevision: modRevision + 1 })).deleted, true);
  });
});

Deno.test("deletePrefix deletes every key under the prefix; the empty prefix needs all", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    for (const key of ["p/1", "p/2", "q/1"]) await kv.put(key, "x");
    assert.deepEqual(await kv.deletePrefix("p/"), { deleted: 2, revision: 4 });
    await assert.rejects(kv.deletePrefix(""), BadRequest);
    assert.equal((await kv.deletePrefix("", { all: true })).deleted, 1);
    assert.equal(cluster.requests("DELETE").at(-1)?.search.get("all"), "true");
  });
});

Deno.test("bad input is refused locally without a request", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await assert.rejects(kv.put("", "x"), BadRequest);
    await assert.rejects(kv.get("\ud800"), BadRequest);
    await assert.rejects(kv.put("k", "x", { ttlSeconds: 0 }), BadRequest);
    await assert.rejects(kv.put("k", "x", { ifRevision: -1 }), BadRequest);
    await assert.rejects(kv.put("k", "x", { ifRevision: 1, createOnly: true }), BadRequest);
    await assert.rejects(kv.put("k", "x", { idempotencyKey: "" }), BadRequest);
    assert.equal(cluster.log.length, 0);
    assert.throws(() => testClient([]), BadRequest);
    assert.throws(() => testClient(["ftp://x"]), BadRequest);
    assert.throws(() => testClient(cluster.urls, { retries: -1 }), BadRequest);
  });
});

Deno.test("the token travels as a Bearer header; a wrong one is Unauthorized, not retried", async () => {
  await withCluster(1, async (cluster) => {
    await testClient(cluster.urls, { token: "s3cret" }).put("a", "1");
    assert.equal(cluster.log[0]?.headers.get("Authorization"), "Bearer s3cret");
    const error = await testClient(cluster.urls, { token: "wrong" }).get("a").catch((e) => e);
    assert.ok(error instanceof Unauthorized);
    assert.equal(error.code, "unauthorized");
    assert.equal(cluster.log.length, 2);
  }, "s3cret");
});

Deno.test("cluster.status parses the node's status", async () => {
  await withCluster(2, async (cluster) => {
    const kv = testClient(cluster.urls);
    const status = await kv.cluster.status();
    assert.equal(status.role, "leader");
    assert.equal(status.ready, true);
    await kv.cluster.status({ endpoint: cluster.urls[1] ?? "" });
    assert.equal(cluster.log.at(-1)?.node, 1);
  });
});

Deno.test("cluster.info lists the members", async () => {
  await withCluster(3, async (cluster) => {
    const info = await testClient(cluster.urls).cluster.info();
    assert.equal(info.clusterId, "fake");
    assert.deepEqual(info.members.map((m) => m.httpUrl), cluster.urls);
  });
});

Deno.test("an injected fetch is used for every request", async () => {
  await withCluster(1, async (cluster) => {
    let calls = 0;
    const kv = testClient(cluster.urls, {
      fetch: (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    await kv.put("a", "1");
    await kv.get("a");
    assert.equal(calls, 2);
  });
});
