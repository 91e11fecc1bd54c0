/**
 * A learner cut off from every voter stops claiming a leader: `/ready` answers 503 and a
 * write through it is refused at once (503, not applied) instead of waiting out the
 * write timeout for a leader that cannot answer; stale reads still serve. When the
 * voters come back it follows the leader again.
 */

import assert from "node:assert/strict";
import { TestCluster, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** GET /v1/status of a node, with the readiness flag the harness's helper leaves out. */
async function nodeStatus(
  cluster: TestCluster,
  url: string,
): Promise<{ leader: string | null; ready: boolean }> {
  const res = await cluster.fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(1000) });
  return await res.json();
}

Deno.test(
  "a learner whose voters all went silent reports no leader and is not ready",
  opts,
  async () => {
    const cluster = await TestCluster.start(2);
    const stopped: number[] = [];
    try {
      const leader = await cluster.leader();
      const put = await cluster.fetch(`${leader.httpUrl}/v1/kv/k`, { method: "PUT", body: "v" });
      assert.equal(put.status, 200, await put.text());
      const learner = cluster.join(leader);
      await waitFor("the learner ready", async () => {
        const res = await cluster.fetch(`${learner.httpUrl}/ready`);
        await res.body?.cancel();
        return res.status === 200 ? true : undefined;
      }, 20_000);

      for (const voter of cluster.nodes.filter((n) => !n.joined)) {
        const pid = voter.process!.pid;
        Deno.kill(pid, "SIGSTOP");
        stopped.push(pid);
      }
      // Election timeout ≈ 1–2 s: give it several.
      const lost = await waitFor("the learner to forget its leader", async () => {
        const s = await nodeStatus(cluster, learner.httpUrl);
        return s.leader === null ? s : undefined;
      }, 10_000);
      assert.equal(lost.ready, false);
      const ready = await cluster.fetch(`${learner.httpUrl}/ready`);
      assert.equal(ready.status, 503, await ready.text());
      const started = Date.now();
      const write = await cluster.fetch(`${learner.httpUrl}/v1/kv/k`, { method: "PUT", body: "w" });
      assert.equal(write.status, 503, await write.text());
      assert.ok(Date.now() - started < 2_000, "refused at once, not after the write timeout");
      const stale = await cluster.fetch(`${learner.httpUrl}/v1/kv/k?consistency=stale`);
      assert.equal(await stale.text(), "v");

      for (const pid of stopped.splice(0)) Deno.kill(pid, "SIGCONT");
      await waitFor("the learner to follow a leader again", async () => {
        const s = await nodeStatus(cluster, learner.httpUrl);
        return s.leader !== null && s.ready ? true : undefined;
      }, 10_000);
    } finally {
      for (const pid of stopped) Deno.kill(pid, "SIGCONT");
      await cluster.stop();
    }
  },
);
