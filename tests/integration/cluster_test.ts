/**
 * Three real node processes on loopback, default timings, fsync on: the acceptance of
 * the running cluster.
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function put(
  node: TestNode,
  key: string,
  value: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return await fetch(`${node.httpUrl}/v1/kv/${encodeURIComponent(key)}`, {
    method: "PUT",
    body: value,
    headers,
    signal: AbortSignal.timeout(10_000),
  });
}

async function get(node: TestNode, key: string, consistency = "linearizable"): Promise<Response> {
  return await fetch(
    `${node.httpUrl}/v1/kv/${encodeURIComponent(key)}?consistency=${consistency}`,
    { signal: AbortSignal.timeout(10_000) },
  );
}

/** Retries a write until it is acknowledged (503s and connection errors are retried). */
async function putAcked(
  nodes: TestNode[],
  key: string,
  value: string,
  headers: Record<string, string> = {},
): Promise<{ modRevision: number; version: number }> {
  return await waitFor(
    `PUT ${key} acknowledged`,
    async () => {
      for (const node of nodes) {
        if (!node.process) continue;
        const res = await put(node, key, value, headers).catch(() => null);
        if (!res) continue;
        if (res.status === 200) return await res.json();
        await res.body?.cancel();
      }
      return undefined;
    },
    15_000,
    100,
  );
}

Deno.test("writes through any node are read linearizably from every node", opts, async () => {
  const cluster = await TestCluster.start(3);
  try {
    for (const [i, node] of cluster.nodes.entries()) {
      const res = await put(node, `k${i}`, `v${i}`);
      assert.equal(res.status, 200, await res.text());
    }
    for (const node of cluster.nodes) {
      for (let i = 0; i < 3; i++) {
        const res = await get(node, `k${i}`);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), `v${i}`);
        assert.ok(res.headers.get("x-raftkv-leader"));
      }
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test(
  "a killed leader is replaced within 3 s, loses no acknowledged write, and catches up on restart",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    try {
      const acked = new Map<string, string>();
      for (let i = 0; i < 50; i++) {
        const { modRevision } = await putAcked(cluster.nodes, `a${i}`, `v${i}`);
        assert.ok(modRevision > 0);
        acked.set(`a${i}`, `v${i}`);
      }
      const old = await cluster.leader();
      await cluster.kill(old);
      const killedAt = Date.now();
      const survivors = cluster.nodes.filter((n) => n !== old);
      await waitFor(
        "a write through the new leader",
        async () => {
          const res = await put(survivors[0]!, "after-kill", "x").catch(() => null);
          if (res?.status === 200) return true;
          await res?.body?.cancel();
          return undefined;
        },
        3_000,
        20,
      );
      console.log(`new leader serving writes ${Date.now() - killedAt} ms after the kill`);
      for (const [key, value] of acked) {
        const res = await get(survivors[1]!, key);
        assert.equal(await res.text(), value, key);
      }
      cluster.spawn(old);
      const leader = await cluster.leader();
      const commit = (await cluster.status(leader)).commitIndex;
      await waitFor("restarted node to catch up", async () => {
        const s = await cluster.status(old);
        return s.appliedIndex >= commit ? true : undefined;
      });
      const res = await get(old, "after-kill", "stale");
      assert.equal(await res.text(), "x");
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test(
  "100 concurrent compare-and-set increments through different nodes end at 100",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    try {
      await putAcked(cluster.nodes, "counter", "0");
      const workers = 10;
      const perWorker = 10;
      let conflicts = 0;
      await Promise.all(Array.from({ length: workers }, async (_, w) => {
        const node = cluster.nodes[w % cluster.nodes.length]!;
        for (let done = 0; done < perWorker;) {
          const res = await get(node, "counter");
          const value = Number(await res.text());
          const etag = res.headers.get("etag")!;
          const put1 = await put(node, "counter", String(value + 1), { "If-Match": etag });
          await put1.body?.cancel();
          if (put1.status === 200) done++;
          else if (put1.status === 412) conflicts++;
          else assert.fail(`unexpected status ${put1.status}`);
        }
      }));
      const final = await get(cluster.nodes[0]!, "counter");
      assert.equal(await final.text(), String(workers * perWorker));
      console.log(`100 increments with ${conflicts} lost compare-and-sets retried`);
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test("keys with a TTL vanish on every node", opts, async () => {
  const cluster = await TestCluster.start(3);
  try {
    const res = await put(cluster.nodes[0]!, "ephemeral", "soon gone", {});
    await res.body?.cancel();
    const withTtl = await fetch(`${cluster.nodes[1]!.httpUrl}/v1/kv/short-lived?ttl=1`, {
      method: "PUT",
      body: "bye",
    });
    assert.equal(withTtl.status, 200, await withTtl.text());
    for (const node of cluster.nodes) {
      const before = await get(node, "short-lived", "linearizable");
      assert.equal(before.status, 200);
      await before.body?.cancel();
    }
    for (const node of cluster.nodes) {
      await waitFor(
        `short-lived to expire on ${node.id}`,
        async () => {
          const res = await get(node, "short-lived", "stale");
          await res.body?.cancel();
          return res.status === 404 ? true : undefined;
        },
        10_000,
        100,
      );
    }
    const kept = await get(cluster.nodes[2]!, "ephemeral");
    assert.equal(kept.status, 200);
    await kept.body?.cancel();
  } finally {
    await cluster.stop();
  }
});

Deno.test("a watcher receives every change in order across a leader change", opts, async () => {
  const cluster = await TestCluster.start(3);
  try {
    const leader = await cluster.leader();
    const watched = cluster.nodes.find((n) => n !== leader)!;
    const first = await putAcked(cluster.nodes, "w/0", "0");
    const controller = new AbortController();
    const res = await fetch(
      `${watched.httpUrl}/v1/watch?prefix=w/&fromRevision=${first.modRevision}`,
      { signal: controller.signal },
    );
    assert.equal(res.status, 200);
    const events: { key: string; revision: number }[] = [];
    const reading = (async () => {
      let buffer = "";
      try {
        for await (const text of res.body!.pipeThrough(new TextDecoderStream())) {
          buffer += text;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split("\n").find((l) => l.startsWith("data:"));
            if (data) events.push(JSON.parse(data.slice(5)));
          }
        }
      } catch { /* aborted */ }
    })();
    for (let i = 1; i <= 10; i++) await putAcked(cluster.nodes, `w/${i}`, String(i));
    await cluster.kill(leader);
    for (let i = 11; i <= 20; i++) await putAcked(cluster.nodes, `w/${i}`, String(i));
    await waitFor("21 watch events", () => events.length >= 21 ? true : undefined, 10_000);
    controller.abort();
    await reading;
    assert.deepEqual(events.map((e) => e.key), Array.from({ length: 21 }, (_, i) => `w/${i}`));
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i]!.revision > events[i - 1]!.revision, "revisions increase");
    }
  } finally {
    await cluster.stop();
  }
});

Deno.test("an Idempotency-Key retry after a leader kill applies once", opts, async () => {
  const cluster = await TestCluster.start(3);
  try {
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const headers = { "Idempotency-Key": "once-" + crypto.randomUUID() };
    const firstTry = put(follower, "once", "1", headers).catch(() => null);
    await cluster.kill(leader);
    const first = await firstTry;
    await first?.body?.cancel();
    const survivors = cluster.nodes.filter((n) => n !== leader);
    const retried = await putAcked(survivors, "once", "1", headers);
    const again = await putAcked(survivors, "once", "1", headers);
    assert.deepEqual(again, retried);
    assert.equal(retried.version, 1, "the write applied exactly once");
  } finally {
    await cluster.stop();
  }
});
