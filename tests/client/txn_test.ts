import assert from "node:assert/strict";
import { BadRequest, LeaseNotFound } from "../../src/client/mod.ts";
import { take, testClient, waitFor, withCluster } from "./helpers.ts";

Deno.test("txn: a missing key compares as version 0 and its value as false", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const created = await kv.txn({
      compare: [{ key: "a", target: "version", op: "=", value: 0 }],
      success: [{ put: { key: "a", value: "1" } }, { put: { key: "b", value: "2" } }],
      failure: [{ get: { key: "a" } }],
    });
    assert.equal(created.succeeded, true);
    assert.equal(created.revision, 1);
    assert.deepEqual(created.results, [
      { put: { key: "a", createRevision: 1, modRevision: 1, version: 1 } },
      { put: { key: "b", createRevision: 1, modRevision: 1, version: 1 } },
    ]);
    const missing = await kv.txn({
      compare: [{ key: "nope", target: "value", op: "!=", value: "x" }],
      success: [{ delete: { key: "a" } }],
      failure: [{ get: { key: "a" } }, { get: { key: "nope" } }, { list: { prefix: "" } }],
    });
    assert.equal(missing.succeeded, false);
    assert.equal(missing.revision, 1);
    const [a, nope, list] = missing.results;
    assert.ok(a !== undefined && "get" in a && a.get.kv?.text() === "1");
    assert.ok(nope !== undefined && "get" in nope && nope.get.kv === null);
    assert.ok(list !== undefined && "list" in list);
    assert.deepEqual(list.list.items.map((i) => i.key), ["a", "b"]);
    assert.equal(list.list.more, false);
  });
});

Deno.test("txn: writes carry an Idempotency-Key; read-only ones carry consistency", async () => {
  await withCluster(2, async (cluster) => {
    const kv = testClient(cluster.urls);
    cluster.nodes[0]!.faults.outcomeUnknownAfterApply = 1; // applied, then 504: retried
    const put = await kv.txn({
      success: [{ put: { key: "k", value: new Uint8Array([0xff, 0]) } }],
    });
    assert.equal(put.succeeded, true);
    assert.equal(cluster.store.applied, 1, "the retry was served from the idempotency cache");
    const posts = cluster.requests("POST", "/v1/txn");
    assert.equal(posts.length, 2);
    const keys = posts.map((r) => r.headers.get("Idempotency-Key"));
    assert.ok(keys[0] !== null && keys[0] === keys[1]);
    assert.deepEqual([...cluster.store.keys.get("k")!.value], [0xff, 0]);
    await kv.txn({ success: [{ get: { key: "k" } }] }, { consistency: "stale" });
    const read = cluster.requests("POST", "/v1/txn").at(-1)!;
    assert.equal(read.headers.get("Idempotency-Key"), null);
    assert.equal(read.search.get("consistency"), "stale");
  });
});

Deno.test("txn: bad input is refused before sending; a lease the server lacks is LeaseNotFound", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const tooMany = Array.from({ length: 129 }, (_, i) => ({ get: { key: `k${i}` } }));
    // Refused before sending, each naming its position as the server's refusals do.
    const refused = async (request: Parameters<typeof kv.txn>[0], message: RegExp) =>
      await assert.rejects(
        kv.txn(request),
        (e: unknown) => e instanceof BadRequest && e.status === 0 && message.test(e.message),
        String(message),
      );
    await refused({ success: tooMany }, /^success: has 129 operations; the limit is 128$/);
    await refused(
      { compare: [{ key: "a", target: "version", op: "=", value: -1 }] },
      /^compare\[0\]\.value: must be a non-negative integer for target version$/,
    );
    await refused(
      { success: [{ get: { key: "a" } }, { put: { key: "", value: "x" } }] },
      /^success\[1\]\.put\.key: key must be a non-empty string$/,
    );
    await refused(
      { failure: [{ put: { key: "a", value: "x", lease: "NOT-HEX" } }] },
      /^failure\[0\]\.put\.lease: lease must be a lease id/,
    );
    await refused(
      { compare: [{ key: "a", target: "version", op: "<=" as "=", value: 1 }] },
      /^compare\[0\]\.op: must be one of =, !=, <, >$/,
    );
    await refused(
      { success: [{ list: { prefix: "", limit: 0 } }] },
      /^success\[0\]\.list\.limit: must be an integer in 1\.\.1000$/,
    );
    assert.equal(cluster.log.length, 0);
    await assert.rejects(
      kv.txn({ success: [{ put: { key: "a", value: "x", lease: "abc" } }] }),
      LeaseNotFound,
    );
    assert.equal(cluster.store.keys.size, 0);
  });
});

Deno.test("atomic: checks guard the commit; ok carries the revision", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const first = await kv.atomic().check({ key: "a", value: null }).set("a", "1").set("b", "1")
      .commit();
    assert.deepEqual(first, { ok: true, revision: 1 });
    const stale = await kv.atomic().check({ key: "a", modRevision: 0 }).delete("b").commit();
    assert.deepEqual(stale, { ok: false });
    assert.ok(cluster.store.keys.has("b"));
    const moved = await kv.atomic()
      .check({ key: "a", modRevision: 1 }, { key: "b", value: "1" }, { key: "c", version: 0 })
      .set("a", "2")
      .delete("b")
      .commit();
    assert.deepEqual(moved, { ok: true, revision: 2 });
    assert.equal(cluster.store.keys.get("a")?.modRevision, 2);
    assert.equal(cluster.store.keys.has("b"), false);
    assert.throws(() => kv.atomic().check({ key: "a" } as never), BadRequest);
  });
});

Deno.test("a transaction's events at one revision all reach a watch, across a drop", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    cluster.nodes[0]!.faults.watchDropPlan = [1, 2, 2];
    const events = take(kv.watch("t/", { fromRevision: 1 }), 3, 5_000);
    await waitFor(() => cluster.store.watchers === 1, "the watch to connect");
    await kv.atomic().set("t/a", "1").set("t/b", "2").set("t/c", "3").commit();
    const got = (await events).map((e) => `${e.revision}:${e.key}`);
    assert.deepEqual(got, ["1:t/a", "1:t/b", "1:t/c"]);
  });
});

Deno.test("watch with exact follows one key, not its prefix", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const events = take(kv.watch("x", { exact: true, fromRevision: 1 }), 2);
    await kv.put("xy", "1");
    await kv.put("x", "2");
    await kv.delete("x");
    assert.deepEqual((await events).map((e) => `${e.type}:${e.key}`), ["put:x", "delete:x"]);
    assert.equal(cluster.requests("GET", "/v1/watch")[0]?.search.get("key"), "x");
  });
});
