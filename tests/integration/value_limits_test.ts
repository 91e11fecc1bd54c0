/**
 * `--max-value-bytes` above the default reaches the state machine, not only the HTTP
 * layer: a value between the default and the flag's limit is stored, replicated and
 * survives a restart (found by an outside-in audit: the store kept its default).
 */

import assert from "node:assert/strict";
import { TestCluster, waitFor } from "./harness.ts";

const LIMIT = 4 * 1024 * 1024;
const SIZE = 2_000_000; // above the 1 MiB default, below the flag

Deno.test("--max-value-bytes above the default stores, replicates and restarts with large values", async () => {
  const cluster = await TestCluster.start(3, ["--max-value-bytes", String(LIMIT)]);
  try {
    const value = new Uint8Array(SIZE).fill(120);
    const leader = await cluster.leader();
    const put = await fetch(`${leader.httpUrl}/v1/kv/big`, { method: "PUT", body: value });
    assert.equal(put.status, 200, await put.text());
    const tooBig = await fetch(`${leader.httpUrl}/v1/kv/huge`, {
      method: "PUT",
      body: new Uint8Array(LIMIT + 1),
    });
    assert.equal(tooBig.status, 413);
    await tooBig.body?.cancel();
    for (const node of cluster.nodes) {
      const size = await waitFor(`${node.id} holds the large value`, async () => {
        const res = await fetch(`${node.httpUrl}/v1/kv/big?consistency=stale`);
        if (res.status !== 200) return void await res.body?.cancel();
        return (await res.arrayBuffer()).byteLength;
      });
      assert.equal(size, SIZE);
    }
    const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
    await cluster.kill(follower, "SIGTERM");
    cluster.spawn(follower);
    const size = await waitFor("the restarted follower serves the large value", async () => {
      const res = await fetch(`${follower.httpUrl}/v1/kv/big?consistency=stale`).catch(() => null);
      if (res === null) return undefined;
      if (res.status !== 200) return void await res.body?.cancel();
      return (await res.arrayBuffer()).byteLength;
    });
    assert.equal(size, SIZE);
  } finally {
    await cluster.stop();
  }
});
