/**
 * Remembered transaction results and snapshots, with real processes. Found by the
 * outside audit: three `POST /v1/txn` with an `Idempotency-Key`, each reading a 1 MB
 * value, then `POST /v1/cluster/snapshot`, and the restarted node refused to start
 * ("corrupt kv snapshot: chunk of 3000416 bytes"): the snapshot's dedup chunk held all
 * three results, past the reader's chunk bound. Also: a transaction reading past the
 * read budget is a 413 that writes nothing.
 */

import assert from "node:assert/strict";
import { TestCluster, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "remembered txn results of a megabyte survive a snapshot and a restart; over-budget reads are 413",
  opts,
  async () => {
    const cluster = await TestCluster.start(1);
    try {
      const node = cluster.nodes[0]!;
      const url = node.httpUrl;
      const big = "b".repeat(1_000_000);
      const put = await cluster.fetch(`${url}/v1/kv/big`, { method: "PUT", body: big });
      assert.equal(put.status, 200, await put.text());
      const txn = (body: unknown, key?: string) =>
        cluster.fetch(`${url}/v1/txn`, {
          method: "POST",
          body: JSON.stringify(body),
          headers: key === undefined ? {} : { "Idempotency-Key": key },
        });
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await txn({
          success: [{ put: { key: `t/${i}`, value: "x" } }, { get: { key: "big" } }],
        }, `audit-${i}`);
        answers.push(await res.text());
        assert.equal(res.status, 200, answers[i]?.slice(0, 200));
      }
      const snap = await cluster.fetch(`${url}/v1/cluster/snapshot`, { method: "POST" });
      assert.equal(snap.status, 200, await snap.text());
      await cluster.kill(node, "SIGTERM");
      cluster.spawn(node);
      await waitFor("the restarted node to be ready", async () => {
        const res = await cluster.fetch(`${url}/ready`).catch(() => null);
        await res?.body?.cancel();
        return res?.status === 200 ? true : undefined;
      }, 15_000);
      // The remembered answers came back with the snapshot.
      const retried = await txn({ success: [{ put: { key: "t/2", value: "other" } }] }, "audit-2");
      assert.ok((await retried.text()) === answers[2], "the retry answers the first result");
      // Two reads of the megabyte are past the budget: 413, nothing written.
      const revision = async () =>
        (await (await cluster.fetch(`${url}/v1/kv?prefix=t/&limit=1`)).json()).revision;
      const before = await revision();
      const over = await txn({
        success: [{ put: { key: "t/over", value: "x" } }, { get: { key: "big" } }, {
          get: { key: "big" },
        }],
      });
      const overBody = await over.json();
      assert.equal(over.status, 413, JSON.stringify(overBody).slice(0, 200));
      assert.equal(overBody.error.code, "too_large");
      assert.equal(await revision(), before);
    } finally {
      await cluster.stop();
    }
  },
);
