import assert from "node:assert/strict";
import { BadRequest } from "../../src/client/mod.ts";
import { testClient, withCluster } from "./helpers.ts";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

Deno.test("list follows pages with after until the server says no more", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, "0")}`);
    for (const key of keys) await kv.put(key, `v${key}`);
    await kv.put("q/other", "x");
    const items = await collect(kv.list("p/", { pageSize: 10 }));
    assert.deepEqual(items.map((item) => item.key), keys);
    assert.equal(items[3]?.text(), "vp/03");
    const pages = cluster.requests("GET", "/v1/kv");
    assert.deepEqual(pages.map((r) => r.search.get("after")), [null, "p/09", "p/19"]);
    assert.ok(pages.every((r) => r.search.get("limit") === "10"));
  });
});

Deno.test("list stops at limit, asking only for what it still needs", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    for (let i = 0; i < 9; i++) await kv.put(`k${i}`, "x");
    const items = await collect(kv.list("k", { limit: 5, pageSize: 3 }));
    assert.deepEqual(items.map((item) => item.key), ["k0", "k1", "k2", "k3", "k4"]);
    const limits = cluster.requests("GET", "/v1/kv").map((r) => r.search.get("limit"));
    assert.deepEqual(limits, ["3", "2"]);
  });
});

Deno.test("list decodes base64 values and reports revisions and expiry", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const bytes = new Uint8Array([0xff, 0x00, 0xfe, 0x80]);
    await kv.put("bin", bytes);
    await kv.put("bin", bytes);
    const [item] = await collect(kv.list("bin"));
    assert.deepEqual(item?.value, bytes);
    assert.equal(item?.version, 2);
    assert.equal(item?.createRevision, 1);
    assert.equal(item?.modRevision, 2);
    assert.equal(item?.expiresAt, null);
  });
});

Deno.test("list of an empty prefix range yields nothing after one request", async () => {
  await withCluster(1, async (cluster) => {
    assert.deepEqual(await collect(testClient(cluster.urls).list("none/")), []);
    assert.equal(cluster.log.length, 1);
  });
});

Deno.test("list passes consistency and rejects a bad page size before any request", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await collect(kv.list("", { consistency: "lease" }));
    assert.equal(cluster.log[0]?.search.get("consistency"), "lease");
    await assert.rejects(collect(kv.list("", { pageSize: 1001 })), BadRequest);
    assert.equal(cluster.log.length, 1);
  });
});
