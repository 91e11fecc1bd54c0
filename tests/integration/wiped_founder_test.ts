/**
 * A founding voter whose data directory was wiped, restarted with the same
 * --initial-cluster, asks the other founders first and refuses to start (it could
 * otherwise vote away entries it had acknowledged); the fix its error names works; and a
 * founder started late for the first time still starts. Real processes throughout.
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A stale read of `key` on `node` itself: status and body. */
async function localValue(cluster: TestCluster, node: TestNode, key: string): Promise<string> {
  const res = await cluster.fetch(`${node.httpUrl}/v1/kv/${key}?consistency=stale`);
  return `${res.status} ${await res.text()}`;
}

/** How often `node` logged `pattern` so far (its log spans every run). */
function count(cluster: TestCluster, node: TestNode, pattern: RegExp): number {
  return cluster.logs(node).split("\n").filter((l) => pattern.test(l)).length;
}

Deno.test(
  "a wiped founding voter restarted with its founding flags refuses to start; removing and re-adding it with --join works",
  opts,
  async () => {
    const cluster = await TestCluster.start(3);
    try {
      const leader = await cluster.leader();
      for (let i = 0; i < 20; i++) await cluster.putOk(leader, `k${i}`);
      const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
      await cluster.caughtUp(follower);
      await cluster.kill(follower);
      const bootstraps = count(cluster, follower, /bootstrapped a new cluster/);
      await Deno.remove(follower.dataDir, { recursive: true });
      cluster.spawn(follower); // same flags, --initial-cluster included
      const exit = await follower.process!.status;
      follower.process = null;
      const logs = cluster.logs(follower);
      assert.notEqual(exit.code, 0, logs);
      assert.match(logs, /has an empty data directory, but its cluster already runs/);
      assert.match(logs, /its data was lost/);
      assert.match(logs, new RegExp(`DELETE /v1/cluster/members/${follower.id}\\) and add it`));
      assert.equal(count(cluster, follower, /bootstrapped a new cluster/), bootstraps);
      // The other two go on.
      await cluster.putOk(await cluster.leader(), "after");

      // The fix the error names: remove it, then add it back empty with --join.
      const removed = await cluster.admin("DELETE", `/v1/cluster/members/${follower.id}`);
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      // Its directory is reused as is: the refusal wrote nothing, so --join sees it empty.
      follower.joined = true;
      follower.flags = ["--join", (await cluster.leader()).httpUrl];
      cluster.spawn(follower);
      await waitFor(
        "the re-added member to become a voter",
        async () => {
          const info = await cluster.clusterInfo();
          return info.members.find((m) => m.id === follower.id)?.role === "voter"
            ? true
            : undefined;
        },
        30_000,
        200,
      );
      await cluster.caughtUp(follower);
      assert.equal(await localValue(cluster, follower, "k19"), "200 v");
    } finally {
      await cluster.stop();
    }
  },
);

Deno.test(
  "a founding voter started for the first time after the others formed the cluster starts and catches up",
  opts,
  async () => {
    const cluster = await TestCluster.start(3, [], { spawned: 2 });
    try {
      const leader = await cluster.leader();
      for (let i = 0; i < 10; i++) await cluster.putOk(leader, `k${i}`);
      const late = cluster.node("n3");
      cluster.spawn(late);
      await cluster.caughtUp(late);
      const logs = cluster.logs(late);
      assert.match(logs, /founder check: the cluster already runs; starting as a founding member/);
      assert.match(logs, /bootstrapped a new cluster/);
      assert.equal(await localValue(cluster, late, "k9"), "200 v");
    } finally {
      await cluster.stop();
    }
  },
);
