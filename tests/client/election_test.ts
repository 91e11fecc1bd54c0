import assert from "node:assert/strict";
import { type ElectionLeader, NotLeader } from "../../src/client/mod.ts";
import { bounded, testClient, waitFor, withCluster } from "./helpers.ts";

Deno.test("campaign, proclaim, observe and resign hand leadership along the line", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const a = kv.election("e", { ttlSeconds: 5 });
    const b = kv.election("e", { ttlSeconds: 5 });
    assert.equal(await a.leader(), null);
    const controller = new AbortController();
    const seen: (string | null)[] = [];
    const observing = (async () => {
      for await (const leader of a.observe({ signal: controller.signal })) {
        seen.push(leader === null ? null : leader.text());
      }
    })();
    await waitFor(() => seen.length === 1, "the first observation");
    const won = await a.campaign("a1");
    assert.equal(won.key, `e/${won.lease.id}`);
    const bWins = b.campaign("b1");
    await waitFor(() => cluster.store.watchers === 2, "b to wait on a");
    const current = await b.leader() as ElectionLeader;
    assert.equal(current.text(), "a1");
    assert.equal(current.createRevision, won.revision);
    await a.proclaim("a2");
    await assert.rejects(b.proclaim("b?"), NotLeader);
    await waitFor(() => seen.length === 3, "a1 and a2 observed");
    await a.resign();
    const bLead = await bounded(bWins, 2_000, "b's campaign");
    assert.ok(bLead.revision > won.revision);
    await waitFor(() => seen.length === 4, "b1 observed");
    await b.resign();
    await waitFor(() => seen.length === 5, "no leader observed");
    controller.abort();
    await bounded(observing, 2_000, "observe to end");
    assert.deepEqual(seen, [null, "a1", "a2", "b1", null]);
    await assert.rejects(a.proclaim("late"), NotLeader);
  });
});

Deno.test("a leader whose key is gone cannot proclaim", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    const election = kv.election("g", { ttlSeconds: 5 });
    const won = await election.campaign("x");
    cluster.store.revokeLease(won.lease.id);
    await assert.rejects(election.proclaim("y"), NotLeader);
    await election.resign();
  });
});

Deno.test("an aborted campaign leaves the line; keys of nested names never count", async () => {
  await withCluster(1, async (cluster) => {
    const kv = testClient(cluster.urls);
    await kv.put("n/sub/1", "not a campaigner"); // another election named "n/sub"
    const a = kv.election("n", { ttlSeconds: 5 });
    await a.campaign("a");
    assert.equal((await a.leader())?.text(), "a");
    const b = kv.election("n", { ttlSeconds: 5 });
    const controller = new AbortController();
    const waiting = b.campaign("b", { signal: controller.signal });
    await waitFor(() => cluster.store.watchers === 1, "b to wait");
    controller.abort(new Error("no longer interested"));
    await assert.rejects(waiting, /no longer interested/);
    assert.deepEqual(cluster.store.keysUnder("n/", null).filter((k) => !k.startsWith("n/sub/")), [
      `n/${(await a.campaign("a")).lease.id}`,
    ]);
    await a.resign();
    assert.equal(await a.leader(), null, "n/sub/1 is not a leader of n");
  });
});
