/**
 * Leases through a real single-voter node (in-memory storage and transport): keepalives
 * batched per tick into one entry, answered once applied, and expiry proposed by the
 * leader only when its clock passes the deadline.
 */

import assert from "node:assert/strict";
import { RaftkvNode } from "../../src/node/node.ts";
import { bootstrapEntries } from "../../src/node/bootstrap.ts";
import { silentLogger } from "../../src/node/log.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";
import { MemoryNetwork, MemoryTransport } from "../../src/transport/memory_transport.ts";
import type { Entry, HardState } from "../../src/raft/messages.ts";
import type { ApplyResult, LeaseGrantResult } from "../../src/kv/types.ts";
import { waitFor } from "../integration/harness.ts";
import { LeaseDriver } from "../../src/node/lease_driver.ts";
import { MAX_KEEPALIVE_BATCH_IDS } from "../../src/kv/leases.ts";
import { testNodeConfig } from "./test_config.ts";

const never = new AbortController().signal;

/** Counts the entries handed to storage. */
class CountingStorage extends MemoryStorage {
  saved = 0;
  override save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    this.saved += entries.length;
    return super.save(hardState, entries);
  }
}

async function start(clock: { nowMs: number }) {
  const dataDir = await Deno.makeTempDir({ prefix: "raftkv-lease-" });
  const initialCluster = new Map([["n1", { peerAddr: "mem:n1", httpUrl: null }]]);
  const config = testNodeConfig({
    id: "n1",
    advertiseHttpUrl: "http://127.0.0.1:1",
    dataDir,
    initialCluster,
    tickMs: 10,
  });
  const storage = new CountingStorage();
  const { hardState, entries } = bootstrapEntries(initialCluster);
  await storage.save(hardState, entries);
  const node = await RaftkvNode.start({
    config,
    storage,
    transport: new MemoryTransport(new MemoryNetwork(), "n1"),
    log: silentLogger,
    seed: 1,
    now: () => clock.nowMs,
  });
  await waitFor("leadership", () => (node.status().role === "leader" ? true : undefined), 5000);
  const stop = async () => {
    await node.stop();
    await Deno.remove(dataDir, { recursive: true });
  };
  return { node, storage, stop };
}

function leaseId(result: ApplyResult): string {
  assert.ok(result.ok && result.value !== null && "lease" in result.value);
  return (result.value as LeaseGrantResult).lease.id;
}

Deno.test("keepalives arriving within one tick become one log entry, answered once applied", async () => {
  const clock = { nowMs: 1_700_000_000_000 };
  const { node, storage, stop } = await start(clock);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(
        leaseId(
          await node.write({ op: "leaseGrant", ttlMs: 60_000 }, {
            idempotencyKey: null,
            signal: never,
          }),
        ),
      );
    }
    const before = storage.saved;
    clock.nowMs += 5_000;
    // 50 keepalives (5 per lease) issued in the same turn: one tick, one entry.
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => node.keepalive(ids[i % 10] as string, never)),
    );
    assert.equal(storage.saved - before, 1, "one keepalive entry for the whole tick");
    for (const answer of answers) {
      assert.ok(answer !== null);
      assert.equal(answer.ttlMs, 60_000);
      assert.equal(answer.remainingMs, 60_000, "renewed to the entry's clock + ttl");
    }
    assert.equal(await node.keepalive("ff", never), null, "an unknown lease answers null");
  } finally {
    await stop();
  }
});

Deno.test("the leader expires a lease (and its keys) only once its clock passes the deadline", async () => {
  const clock = { nowMs: 1_700_000_000_000 };
  const { node, stop } = await start(clock);
  try {
    const write = (command: Parameters<typeof node.write>[0]) =>
      node.write(command, { idempotencyKey: null, signal: never });
    const id = leaseId(await write({ op: "leaseGrant", ttlMs: 2_000 }));
    const value = new TextEncoder().encode("v");
    const put = {
      op: "put",
      key: "held",
      value,
      ttlMs: null,
      ifModRevision: null,
      createOnly: false,
      lease: id,
    } as const;
    assert.ok((await write(put)).ok);
    clock.nowMs += 1_999;
    // Entries applied at 1999 ms (this write and any tick's) leave the lease alone.
    assert.ok((await write({ ...put, key: "other", lease: null })).ok);
    assert.ok((await node.lease(id, null, 10, "linearizable", never)) !== null);
    assert.equal((await node.get("held", "linearizable", never)).kv?.lease, id);
    clock.nowMs += 1;
    await waitFor("the expiry", async () => {
      const found = await node.lease(id, null, 10, "linearizable", never);
      return found === null ? true : undefined;
    }, 5_000);
    assert.equal((await node.get("held", "linearizable", never)).kv, null);
    assert.equal(await node.keepalive(id, never), null);
  } finally {
    await stop();
  }
});

/** A driver over a fake propose that records the commands and answers as told. */
function fakeDriver(answer: (ids: string[]) => Promise<ApplyResult>) {
  const proposed: string[][] = [];
  const driver = new LeaseDriver({
    propose: (command) => {
      assert.equal(command.op, "leaseKeepalive");
      const ids = (command as { ids: string[] }).ids;
      proposed.push(ids);
      return answer(ids);
    },
    now: () => 1_000,
    kv: () => {
      throw new Error("no store in this test");
    },
    awaitReadable: () => Promise.resolve(),
  });
  return { driver, proposed };
}

const renewAll = (ids: string[]): Promise<ApplyResult> =>
  Promise.resolve({
    ok: true,
    value: { renewed: ids.map((id) => ({ id, ttlMs: 3_000, deadlineMs: 4_000 })) },
  });

Deno.test("the driver splits a large tick into entries of at most MAX_KEEPALIVE_BATCH_IDS ids", async () => {
  const { driver, proposed } = fakeDriver(renewAll);
  const count = MAX_KEEPALIVE_BATCH_IDS + 10;
  const answers = Array.from(
    { length: count },
    (_, i) => driver.keepalive((i + 1).toString(16), never),
  );
  driver.keepalive("1", never); // a duplicate id joins the same entry
  assert.equal(driver.pendingKeepalives, count + 1);
  driver.tick();
  assert.deepEqual(proposed.map((ids) => ids.length), [MAX_KEEPALIVE_BATCH_IDS, 10]);
  const views = await Promise.all(answers);
  assert.ok(views.every((v) => v !== null && v.remainingMs === 3_000));
  driver.tick();
  assert.equal(proposed.length, 2, "an empty tick proposes nothing");
});

Deno.test("a keepalive aborted before its tick is never proposed; a failed entry fails its waiters", async () => {
  const { driver, proposed } = fakeDriver(() => Promise.reject(new Error("not the leader")));
  const controller = new AbortController();
  const aborted = driver.keepalive("a", controller.signal);
  controller.abort();
  await assert.rejects(aborted, /outcome|deadline/);
  const failing = driver.keepalive("b", never);
  driver.tick();
  assert.deepEqual(proposed, [["b"]]);
  await assert.rejects(failing, /not the leader/);
  const closing = driver.keepalive("c", never);
  driver.close(new Error("stopping"));
  await assert.rejects(closing, /stopping/);
  assert.equal(driver.pendingKeepalives, 0);
});
