import assert from "node:assert/strict";
import { LeaseLost, type LockHandle } from "../../src/client/mod.ts";
import { bounded, testClient, waitFor, withCluster } from "./helpers.ts";

Deno.test("an uncontended lock: key under its lease, revision = createRevision, release frees it", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const lock = await kv.lock("locks/a", { ttlSeconds: 5 });
    assert.equal(lock.key, `locks/a/${lock.lease.id}`);
    const record = cluster.store.keys.get(lock.key)!;
    assert.equal(record.createRevision, lock.revision);
    assert.equal(record.lease, lock.lease.id);
    assert.deepEqual(lock.fence, {
      key: lock.key,
      target: "createRevision",
      op: "=",
      value: lock.revision,
    });
    // Acquire = grant + one txn (create and read the line): no watch was needed.
    assert.equal(cluster.requests("POST", "/v1/txn").length, 1);
    assert.equal(cluster.requests("GET", "/v1/watch").length, 0);
    await lock.release();
    assert.equal(cluster.store.keys.has(lock.key), false);
    assert.equal(cluster.store.leases.size, 0);
  });
});

Deno.test("waiters queue in order, each watching only its predecessor's key", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const first = await kv.lock("q", { ttlSeconds: 5 });
    const order: string[] = [];
    const waiters: Promise<LockHandle>[] = [];
    for (const name of ["b", "c", "d"]) {
      const waiting = kv.lock("q", { ttlSeconds: 5 });
      waiters.push(waiting.then((lock) => (order.push(name), lock)));
      // Enqueue one at a time so the line's order is known.
      await waitFor(() => cluster.store.watchers === waiters.length, `${name} to wait`);
    }
    const watched = cluster.requests("GET", "/v1/watch").map((r) => r.search.get("key"));
    const line = [...cluster.store.keys.entries()].sort((a, b) =>
      a[1].createRevision - b[1].createRevision
    ).map(([key]) => key);
    assert.deepEqual(watched, line.slice(0, 3), "each waiter watches the key just before it");
    assert.ok(cluster.requests("GET", "/v1/watch").every((r) => !r.search.has("prefix")));
    await first.release();
    const b = await bounded(waiters[0]!, 2_000, "b");
    assert.deepEqual(order, ["b"]);
    assert.ok(b.revision > first.revision, "fencing tokens grow");
    await b.release();
    const c = await bounded(waiters[1]!, 2_000, "c");
    await c.release();
    const d = await bounded(waiters[2]!, 2_000, "d");
    await d.release();
    assert.deepEqual(order, ["b", "c", "d"]);
  });
});

Deno.test("a holder whose lease is lost frees the lock, and its fenced write fails", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const holder = await kv.lock("f", { ttlSeconds: 5 });
    const next = kv.lock("f", { ttlSeconds: 5 });
    await waitFor(() => cluster.store.watchers === 1, "the waiter to watch");
    cluster.store.revokeLease(holder.lease.id); // the holder died; its lease expired
    const taken = await bounded(next, 2_000, "the next holder");
    const late = await kv.txn({
      compare: [holder.fence],
      success: [{ put: { key: "counter", value: "stale" } }],
    });
    assert.equal(late.succeeded, false, "the old holder's write is fenced off");
    const ok = await kv.txn({
      compare: [taken.fence],
      success: [{ put: { key: "counter", value: "1" } }],
    });
    assert.equal(ok.succeeded, true);
    assert.equal((await bounded(holder.lost, 2_000, "holder lost")).reason, "not_found");
    await taken.release();
  });
});

Deno.test("aborting a waiter removes its key and lease; the line skips it", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const holder = await kv.lock("ab", { ttlSeconds: 5 });
    const controller = new AbortController();
    const aborted = kv.lock("ab", { ttlSeconds: 5, signal: controller.signal });
    await waitFor(() => cluster.store.watchers === 1, "the waiter to watch");
    const third = kv.lock("ab", { ttlSeconds: 5 });
    await waitFor(() => cluster.store.watchers === 2, "the third to watch");
    assert.equal(cluster.store.keysUnder("ab/", null).length, 3);
    controller.abort(new Error("gave up"));
    await assert.rejects(aborted, /gave up/);
    assert.equal(cluster.store.keysUnder("ab/", null).length, 2);
    assert.equal(cluster.store.leases.size, 2);
    // The third re-read the line when its predecessor went, and waits on the holder now.
    await waitFor(
      () => cluster.requests("GET", "/v1/watch").at(-1)?.search.get("key") === holder.key,
      "the third to watch the holder",
    );
    await holder.release();
    const got = await bounded(third, 2_000, "third");
    await got.release();
  });
});

Deno.test("a waiter whose own lease is lost stops waiting with LeaseLost", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const holder = await kv.lock("ll", { ttlSeconds: 5 });
    const waiting = kv.lock("ll", { ttlSeconds: 5 });
    await waitFor(() => cluster.store.watchers === 1, "the waiter to watch");
    const [waiterKey] = cluster.store.keysUnder("ll/", null).filter((k) => k !== holder.key);
    cluster.store.revokeLease(waiterKey!.slice("ll/".length));
    await assert.rejects(bounded(waiting, 2_000, "waiter"), LeaseLost);
    await holder.release();
  });
});

Deno.test("a lock under a shared lease is one txn to take; release deletes only its key", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await using session = await kv.lease(5);
    const grants = cluster.requests("POST", "/v1/leases").length;
    const a = await kv.lock("sa", { lease: session });
    const b = await kv.lock("sb", { lease: session });
    assert.equal(cluster.requests("POST", "/v1/leases").length, grants, "no new lease");
    assert.equal(cluster.requests("POST", "/v1/txn").length, 2);
    assert.equal(a.key, `sa/${session.id}`);
    await a.release();
    await a.release(); // idempotent
    assert.equal(cluster.store.keys.has(a.key), false);
    assert.equal(cluster.store.keys.has(b.key), true);
    assert.ok(cluster.store.leases.has(session.id), "the shared lease lives on");
    await b.release();
  });
});
