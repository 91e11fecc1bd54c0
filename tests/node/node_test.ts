/**
 * The driver in one process: a single-voter node over in-memory storage and transport,
 * checking what it hands to storage and when it gives up on a write.
 */

import assert from "node:assert/strict";
import { RaftkvNode } from "../../src/node/node.ts";
import { bootstrapEntries } from "../../src/node/bootstrap.ts";
import { type NodeConfig } from "../../src/node/config.ts";
import { silentLogger } from "../../src/node/log.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";
import { MemoryNetwork, MemoryTransport } from "../../src/transport/memory_transport.ts";
import type { Entry, HardState } from "../../src/raft/messages.ts";
import { RaftkvError } from "../../src/errors.ts";
import { waitFor } from "../integration/harness.ts";
import { testNodeConfig } from "./test_config.ts";

/** Memory storage that records every save. */
class RecordingStorage extends MemoryStorage {
  readonly saves: { hardState: HardState | null; entries: number }[] = [];
  override save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    this.saves.push({ hardState: hardState && { ...hardState }, entries: entries.length });
    return super.save(hardState, entries);
  }
}

async function startSingle(overrides: Partial<NodeConfig> = {}) {
  const dataDir = await Deno.makeTempDir({ prefix: "raftkv-node-" });
  const initialCluster = new Map([["n1", { peerAddr: "mem:n1", httpUrl: null }]]);
  const config = testNodeConfig({
    id: "n1",
    advertiseHttpUrl: "http://127.0.0.1:1",
    dataDir,
    initialCluster,
    tickMs: 10,
    ...overrides,
  });
  const storage = new RecordingStorage();
  const { hardState, entries } = bootstrapEntries(initialCluster);
  await storage.save(hardState, entries);
  storage.saves.length = 0;
  const node = await RaftkvNode.start({
    config,
    storage,
    transport: new MemoryTransport(new MemoryNetwork(), "n1"),
    log: silentLogger,
    seed: 1,
  });
  await waitFor("leadership", () => (node.status().role === "leader" ? true : undefined), 5000);
  return { node, storage, dataDir };
}

const value = new TextEncoder().encode("v");
const never = new AbortController().signal;

Deno.test("a commit-only hard state costs no save of its own; stopping writes the last one", async () => {
  const { node, storage, dataDir } = await startSingle();
  try {
    for (let i = 0; i < 20; i++) {
      const result = await node.write(
        { op: "put", key: `k${i}`, value, ttlMs: null, ifModRevision: null, createOnly: false },
        { idempotencyKey: null, signal: never },
      );
      assert(result.ok);
    }
    const commitOnly = storage.saves.filter((s) => s.entries === 0);
    assert.deepEqual(commitOnly, [], "every save carried entries");
    const applied = node.status().appliedIndex;
    await node.stop();
    assert.equal(storage.initialState().hardState.commit, applied);
  } finally {
    await node.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a write whose entry never applies is given up at the node's own deadline", async () => {
  const { node, storage, dataDir } = await startSingle({ writeTimeoutMs: 100 });
  try {
    // Saves hang from here on: the entry is proposed but never committed.
    const held: (() => void)[] = [];
    const save = storage.save.bind(storage);
    storage.save = (hardState, entries) =>
      new Promise<void>((resolve, reject) =>
        held.push(() => save(hardState, entries).then(resolve, reject))
      );
    // The node's timers do not hold the process open; this one keeps the test running.
    const keepAlive = setTimeout(() => {}, 5000);
    const started = performance.now();
    await assert.rejects(
      node.write(
        { op: "put", key: "k", value, ttlMs: null, ifModRevision: null, createOnly: false },
        { idempotencyKey: null, signal: never },
      ),
      (e) => e instanceof RaftkvError && e.code === "outcome_unknown",
    );
    clearTimeout(keepAlive);
    const waitedMs = performance.now() - started;
    assert(waitedMs >= 100 && waitedMs < 2000, `gave up after ${waitedMs.toFixed(0)} ms`);
    storage.save = save;
    for (const release of held) release();
  } finally {
    await node.stop().catch(() => {});
    await Deno.remove(dataDir, { recursive: true });
  }
});
