import assert from "node:assert/strict";
import {
  OutcomeUnknown,
  PreconditionFailed,
  RaftkvClientError,
  Unavailable,
} from "../../src/client/mod.ts";
import { deadEndpoint } from "./fake_server.ts";
import { testClient, withCluster } from "./helpers.ts";

Deno.test("a write retried through 503s carries the same Idempotency-Key every time", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.unavailable = 3;
    const result = await testClient(cluster.urls).put("k", "v");
    assert.equal(result.modRevision, 1);
    const keys = cluster.requests("PUT").map((r) => r.headers.get("Idempotency-Key"));
    assert.equal(keys.length, 4);
    assert.equal(new Set(keys).size, 1);
    assert.equal(cluster.store.applied, 1);
  });
});

Deno.test("a write answered 504 after applying is retried and applied once", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.outcomeUnknownAfterApply = 2;
    const result = await testClient(cluster.urls).put("k", "v");
    assert.deepEqual(result, { key: "k", createRevision: 1, modRevision: 1, version: 1 });
    assert.equal(cluster.requests("PUT").length, 3);
    assert.equal(cluster.store.applied, 1, "the idempotency key deduplicated the retries");
  });
});

Deno.test("a write whose answer is cut off mid-body is retried and applied once", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.dropAfterApply = 1;
    const result = await testClient(cluster.urls).delete("missing-but-fine");
    assert.equal(result.deleted, false);
    cluster.nodes[0]!.faults.dropAfterApply = 1;
    await testClient(cluster.urls).put("k", "v");
    assert.equal(cluster.requests("PUT").length, 2);
    assert.equal(cluster.store.keys.get("k")?.version, 1);
  });
});

Deno.test("only 503s until the retries run out throw Unavailable after retries + 1 attempts", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.unavailable = 100;
    const error = await testClient(cluster.urls, { retries: 3 }).put("k", "v").catch((e) => e);
    assert.ok(error instanceof Unavailable, String(error));
    assert.equal(error.status, 503);
    assert.equal(cluster.requests("PUT").length, 4);
  });
});

Deno.test("a write that may have been applied throws OutcomeUnknown once retries run out", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.outcomeUnknownAfterApply = 1;
    cluster.nodes[0]!.faults.unavailable = 0;
    const kv = testClient(cluster.urls, { retries: 0 });
    const error = await kv.put("k", "v").catch((e) => e);
    assert.ok(error instanceof OutcomeUnknown, String(error));
    assert.equal(error.code, "outcome_unknown");
  });
});

Deno.test("a write that meets only network errors is OutcomeUnknown; a read is Unavailable", async () => {
  // Even "connection refused" may follow a pooled connection that delivered the write.
  const kv = testClient([deadEndpoint(), deadEndpoint()], { retries: 2 });
  const write = await kv.put("k", "v").catch((e) => e);
  assert.ok(write instanceof OutcomeUnknown, String(write));
  const read = await kv.get("k").catch((e) => e);
  assert.ok(read instanceof Unavailable, String(read));
  assert.equal(read.status, 0);
});

Deno.test("calls rotate past a dead endpoint and then stick to the one that answered", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient([deadEndpoint(), cluster.urls[0]!]);
    await kv.put("k", "v");
    await kv.get("k");
    assert.equal(cluster.log.length, 2, "the second call went straight to the live node");
  });
});

Deno.test("reads rotate to the next endpoint on 503", async () => {
  await withCluster(3, async (cluster) => {
    await testClient(cluster.urls).put("k", "v");
    cluster.nodes[0]!.faults.unavailable = 100;
    cluster.nodes[1]!.faults.unavailable = 100;
    const got = await testClient(cluster.urls).get("k");
    assert.equal(got?.text(), "v");
    assert.deepEqual(cluster.requests("GET").map((r) => r.node), [0, 1, 2]);
  });
});

Deno.test("stale reads start at the first endpoint even after calls moved elsewhere", async () => {
  await withCluster(2, async (cluster) => {
    cluster.nodes[0]!.faults.unavailable = 1;
    const kv = testClient(cluster.urls);
    await kv.put("k", "v"); // 503 on node 0, then node 1 answers and becomes preferred
    await kv.get("k");
    await kv.get("k", { consistency: "stale" });
    const gets = cluster.requests("GET");
    assert.deepEqual(gets.map((r) => r.node), [1, 0]);
    assert.equal(gets[1]?.search.get("consistency"), "stale");
  });
});

Deno.test("a 412 is never retried, even with retries left", async () => {
  await withCluster(2, async (cluster) => {
    const kv = testClient(cluster.urls, { retries: 5 });
    await kv.put("k", "v");
    await assert.rejects(kv.put("k", "w", { createOnly: true }), PreconditionFailed);
    assert.equal(cluster.requests("PUT").length, 2);
  });
});

Deno.test("429 is retried; only 429s end in too_many_requests", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.tooMany = 2;
    const kv = testClient(cluster.urls, { retries: 2 });
    await kv.put("k", "v");
    cluster.nodes[0]!.faults.tooMany = 10;
    const error = await kv.get("k").catch((e) => e);
    assert.ok(error instanceof RaftkvClientError);
    assert.equal(error.code, "too_many_requests");
    assert.equal(error.status, 429);
  });
});

Deno.test("a slow node times out per attempt and the read moves to the next endpoint", async () => {
  await withCluster(2, async (cluster) => {
    await testClient(cluster.urls).put("k", "v");
    cluster.nodes[0]!.faults.delayMs = 1_000;
    const kv = testClient(cluster.urls, { timeoutMs: 100 });
    assert.equal((await kv.get("k"))?.text(), "v");
    assert.deepEqual(cluster.requests("GET").map((r) => r.node), [0, 1]);
  });
});

Deno.test("a write that keeps timing out throws OutcomeUnknown", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.delayMs = 1_000;
    const kv = testClient(cluster.urls, { timeoutMs: 50, retries: 1 });
    const error = await kv.put("k", "v").catch((e) => e);
    assert.ok(error instanceof OutcomeUnknown, String(error));
    assert.equal(error.status, 0);
  });
});

Deno.test("a caller's abort stops the call at once and rejects with its reason", async () => {
  await withCluster(1, async (cluster) => {
    cluster.nodes[0]!.faults.delayMs = 1_000;
    const controller = new AbortController();
    const pending = testClient(cluster.urls).get("k", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("caller gave up")), 20);
    await assert.rejects(pending, /caller gave up/);
    assert.equal(cluster.log.length, 1);
  });
});
