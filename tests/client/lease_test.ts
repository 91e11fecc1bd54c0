import assert from "node:assert/strict";
import { BadRequest, LeaseLost, LeaseNotFound } from "../../src/client/mod.ts";
import { bounded, testClient, waitFor, withCluster } from "./helpers.ts";

Deno.test("a lease renews every ttl/3 until revoked; revoke deletes its keys and stops timers", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const lease = await kv.lease(0.3);
    assert.match(lease.id, /^[0-9a-f]+$/);
    assert.equal(lease.ttlSeconds, 0.3);
    await kv.put("s/a", "1", { lease });
    assert.equal((await kv.get("s/a"))?.lease, lease.id);
    const record = cluster.store.leases.get(lease.id)!;
    await waitFor(() => record.keepalives >= 3, "three keepalives", 2_000);
    assert.ok(lease.remainingMs() > 0);
    await lease.revoke();
    const lost = await bounded(lease.lost, 1_000, "lost after revoke");
    assert.ok(lost instanceof LeaseLost);
    assert.equal(lost.reason, "revoked");
    assert.equal(await kv.get("s/a"), null);
    assert.equal(lease.remainingMs(), 0);
    await lease.revoke(); // idempotent
    assert.equal(cluster.requests("DELETE", "/v1/leases/").length, 1);
  });
});

Deno.test("a lease the cluster dropped is lost with not_found at the next keepalive", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const lease = await kv.lease(0.3);
    cluster.store.revokeLease(lease.id); // as an expiry would
    const lost = await bounded(lease.lost, 1_000, "lost");
    assert.equal(lost.reason, "not_found");
    await lease.revoke(); // nothing left to revoke: no request
    assert.equal(cluster.requests("DELETE", "/v1/leases/").length, 0);
  });
});

Deno.test("keepalives rotate endpoints when one fails, and the lease lives on", async () => {
  await withCluster(2, async (cluster) => {
    const kv = testClient(cluster.urls);
    await using lease = await kv.lease(0.3);
    cluster.nodes[0]!.faults.unavailable = 1_000;
    const record = cluster.store.leases.get(lease.id)!;
    const before = record.keepalives;
    await waitFor(() => record.keepalives >= before + 3, "keepalives through node 1", 2_000);
    const lost = await Promise.race([lease.lost, new Promise((r) => setTimeout(r, 50, null))]);
    assert.equal(lost, null);
    assert.ok(cluster.requests("POST", "/v1/leases/").some((r) => r.node === 1));
    cluster.nodes[0]!.faults.unavailable = 0;
  });
});

Deno.test("a lease no keepalive reaches is lost by its deadline, not later", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const lease = await kv.lease(0.3);
    const start = performance.now();
    cluster.nodes[0]!.faults.unavailable = 100_000;
    const lost = await bounded(lease.lost, 2_000, "lost");
    const afterMs = performance.now() - start;
    assert.equal(lost.reason, "deadline");
    assert.ok(afterMs <= 300 + 250, `lost ${afterMs.toFixed(0)} ms after the last grant`);
    cluster.nodes[0]!.faults.unavailable = 0;
    await lease.revoke(); // still tried: the cluster may hold it a little longer
  });
});

Deno.test("put refuses ttl with lease, and a lease the server lacks", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await assert.rejects(kv.put("a", "1", { lease: "1f", ttlSeconds: 5 }), BadRequest);
    await assert.rejects(kv.put("a", "1", { lease: "1F" }), BadRequest);
    await assert.rejects(kv.lease(0), BadRequest);
    await assert.rejects(kv.put("a", "1", { lease: "ff" }), LeaseNotFound);
    assert.equal(cluster.store.keys.size, 0);
    assert.equal(cluster.requests("PUT").at(-1)?.search.get("lease"), "ff");
  });
});
