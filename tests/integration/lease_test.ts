/**
 * Leases on real node processes: leadership changes never renew a lease, and keepalives
 * across a leader kill never let one expire early.
 */

import assert from "node:assert/strict";
import { TestCluster, type TestCluster as Cluster, type TestNode, waitFor } from "./harness.ts";

async function json(
  cluster: Cluster,
  node: TestNode,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const res = await cluster.fetch(`${node.httpUrl}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(2_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Grants a lease through the leader (retrying a moved leader); returns id and send time. */
async function grant(
  cluster: Cluster,
  ttlSeconds: number,
): Promise<{ id: string; sentMs: number }> {
  return await waitFor("a lease grant", async () => {
    const leader = await cluster.leader();
    const sentMs = Date.now();
    const r = await json(cluster, leader, "POST", "/v1/leases", { ttlSeconds });
    return r.status === 201 ? { id: String(r.body?.id), sentMs } : undefined;
  });
}

Deno.test({
  name:
    "a 6 s lease without keepalives is gone from every member within 12 s despite three leader transfers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cluster = await TestCluster.start(3);
    try {
      const { id, sentMs } = await grant(cluster, 6);
      const leader = await cluster.leader();
      const put = await json(cluster, leader, "PUT", `/v1/kv/owned?lease=${id}`, "v");
      assert.equal(put.status, 200, JSON.stringify(put.body));
      // Transfers at 2, 4 and 6 s after the grant, each to another voter: under etcd's
      // rule (a new leader resets every lease) the lease would live until 12 s at least.
      const transferred: string[] = [];
      const transfers = (async () => {
        for (const atMs of [2_000, 4_000, 6_000]) {
          await new Promise((r) => setTimeout(r, Math.max(0, sentMs + atMs - Date.now())));
          const current = await cluster.leader();
          const to = cluster.nodes.find((n) => n.id !== current.id && n.process !== null);
          assert.ok(to);
          await waitFor(
            `leadership to move to ${to.id}`,
            async () => {
              const moved = await cluster.admin("POST", "/v1/cluster/leader", { to: to.id });
              assert.ok([200, 409, 503].includes(moved.status), JSON.stringify(moved.body));
              return (await cluster.leader()).id === to.id || undefined;
            },
            5_000,
            100,
          );
          transferred.push(to.id);
        }
      })();
      // Watch every member until the lease and its key are gone from all of them.
      const goneAt = new Map<string, number>();
      while (goneAt.size < cluster.nodes.length && Date.now() - sentMs < 15_000) {
        for (const node of cluster.nodes) {
          if (goneAt.has(node.id)) continue;
          const lease = await json(cluster, node, "GET", `/v1/leases/${id}?consistency=stale`)
            .catch(() => null);
          const key = await json(cluster, node, "GET", "/v1/kv/owned?consistency=stale")
            .catch(() => null);
          if (lease?.status === 404 && key?.status === 404) goneAt.set(node.id, Date.now());
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await transfers;
      assert.equal(transferred.length, 3, "three leadership transfers");
      assert.equal(goneAt.size, 3, `gone from ${[...goneAt.keys()]}`);
      for (const [node, at] of goneAt) {
        const afterMs = at - sentMs;
        console.log(`lease ${id} gone from ${node} ${afterMs} ms after the grant was sent`);
        assert.ok(afterMs >= 6_000, `${node}: expired early, ${afterMs} ms after the grant`);
        assert.ok(afterMs <= 12_000, `${node}: still there ${afterMs} ms after the grant`);
      }
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name: "keepalives every ttl/3 across a leader kill -9: no lease expires early",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cluster = await TestCluster.start(3);
    try {
      const ttlSeconds = 4;
      const leases = [];
      for (let i = 0; i < 5; i++) leases.push((await grant(cluster, ttlSeconds)).id);
      const leader = await cluster.leader();
      for (const id of leases) {
        const put = await json(cluster, leader, "PUT", `/v1/kv/held/${id}?lease=${id}`, "v");
        assert.equal(put.status, 200);
      }
      const lost: string[] = [];
      const acks = new Map<string, number>();
      const stopAtMs = Date.now() + 12_000;
      // One loop per lease: a keepalive every ttl/3, retried every 200 ms after a failure,
      // rotating over the members that are up.
      const loop = async (id: string, offset: number) => {
        let turn = offset;
        while (Date.now() < stopAtMs) {
          const live = cluster.nodes.filter((n) => n.process !== null);
          const node = live[turn++ % live.length] as TestNode;
          const r = await json(cluster, node, "POST", `/v1/leases/${id}/keepalive`).catch(() =>
            null
          );
          if (r?.status === 404) lost.push(`${id} at ${new Date().toISOString()}`);
          const ok = r?.status === 200;
          if (ok) acks.set(id, (acks.get(id) ?? 0) + 1);
          await new Promise((res) => setTimeout(res, ok ? (ttlSeconds * 1000) / 3 : 200));
        }
      };
      const loops = leases.map((id, i) => loop(id, i));
      await new Promise((r) => setTimeout(r, 3_000));
      console.log(`killing leader ${leader.id}`);
      await cluster.kill(leader);
      await Promise.all(loops);
      assert.deepEqual(lost, [], "a lease kept alive was lost");
      const survivor = await cluster.leader();
      for (const id of leases) {
        const lease = await json(cluster, survivor, "GET", `/v1/leases/${id}`);
        assert.equal(lease.status, 200, `lease ${id}: ${JSON.stringify(lease.body)}`);
        assert.deepEqual(lease.body?.keys, [`held/${id}`]);
        assert.ok((acks.get(id) ?? 0) >= 6, `lease ${id} got ${acks.get(id)} acknowledgements`);
      }
    } finally {
      await cluster.stop();
    }
  },
});
