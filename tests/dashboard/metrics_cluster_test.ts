/**
 * `/metrics` of real node processes: valid exposition text whose counters follow the
 * work the cluster does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TestCluster, type TestNode, waitFor } from "../integration/harness.ts";
import { type Family, parseExposition, valueOf } from "./prom_exposition.ts";

const WRITES = 40;

async function scrape(cluster: TestCluster, node: TestNode): Promise<Map<string, Family>> {
  const res = await cluster.fetch(`${node.httpUrl}/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(res.status, 200, `${node.id} /metrics`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

Deno.test({
  name: "real nodes' /metrics parse and their counters follow writes, snapshots and leaders",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await TestCluster.start(3);
    try {
      const leader = await cluster.leader();
      const before = await scrape(cluster, leader);
      for (let i = 0; i < WRITES; i++) {
        const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/m/${i}`, {
          method: "PUT",
          body: "v",
        });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
      const snap = await cluster.admin("POST", "/v1/cluster/snapshot");
      assert.equal(snap.status, 200);
      const after = await scrape(cluster, leader);
      const delta = (name: string, labels: Record<string, string> = {}) =>
        valueOf(after, name, labels) - valueOf(before, name, labels);
      assert.equal(delta("raftkv_proposals_total"), WRITES);
      assert.equal(
        delta("raftkv_http_requests_total", { route: "/v1/kv/*", method: "PUT", status: "200" }),
        WRITES,
      );
      assert(delta("raftkv_fsync_seconds_count") > 0, "fsyncs are timed");
      assert(delta("raftkv_append_batch_entries_sum") >= WRITES, "every write was persisted");
      assert.equal(valueOf(after, "raftkv_keys"), WRITES);
      assert.equal(valueOf(after, "raftkv_is_leader"), 1);
      assert(valueOf(after, "raftkv_commit_index") >= WRITES);
      assert(delta("raftkv_snapshots_total") >= 1, "the snapshot is counted");
      const peers = after.get("raftkv_peer_lag_entries")?.samples.map((s) => s.labels["peer"]);
      assert.deepEqual(peers?.sort(), cluster.nodes.filter((n) => n !== leader).map((n) => n.id));
      assert(valueOf(after, "raftkv_transport_messages_total", { direction: "sent" }) > 0);

      // Move leadership: the new leader reports it; followers count a leader change.
      const to = cluster.nodes.find((n) => n !== leader);
      assert(to);
      const moved = await cluster.admin("POST", "/v1/cluster/leader", { to: to.id });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      await waitFor("the new leader's metrics", async () => {
        const m = await scrape(cluster, to);
        return valueOf(m, "raftkv_is_leader") === 1 ? true : undefined;
      });
      const third = cluster.nodes.find((n) => n !== leader && n !== to);
      assert(third);
      // The third member hears of the new leader with its first message, a moment after the
      // transfer answers.
      const seen = await waitFor("the third member's view of the new leader", async () => {
        const m = await scrape(cluster, third);
        return valueOf(m, "raftkv_leader_changes_total") >= 2 ? m : undefined;
      });
      assert.equal(valueOf(seen, "raftkv_is_leader"), 0);
      assert.equal(valueOf(seen, "raftkv_keys"), WRITES, "followers apply the same keys");
    } finally {
      await cluster.stop();
    }
  },
});
