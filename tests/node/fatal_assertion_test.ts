/**
 * An assertion failure is fatal wherever the core is called from, not only inside the
 * Ready loop: a step from the transport's callback and a proposal from an API call both
 * stop the node through its `onFatal`. Two nodes over in-memory storage and transport,
 * ticked by hand on a virtual clock; the fault is injected through `NodeDeps.newRaft`.
 */

import assert from "node:assert/strict";
import { RaftkvNode } from "../../src/node/node.ts";
import { silentLogger } from "../../src/node/log.ts";
import { MemoryNetwork } from "../../src/transport/memory_transport.ts";
import { type ProposeResult, Raft, type RaftConfig } from "../../src/raft/raft.ts";
import type { Message } from "../../src/raft/messages.ts";
import { AssertionFailure } from "../../src/assert.ts";
import { RaftkvError } from "../../src/errors.ts";
import type { KvCommand } from "../../src/kv/types.ts";
import { memoryFounder, memoryMembers } from "./test_config.ts";

const TICK_MS = 10;
const PUT: KvCommand = {
  op: "put",
  key: "k",
  value: new Uint8Array([1]),
  ttlMs: null,
  ifModRevision: null,
  createOnly: false,
};
/** Virtual ticks a test may run before it gives up. */
const MAX_TICKS = 2_000;

/** A core that breaks an assertion on demand. */
class BrokenRaft extends Raft {
  failStep = false;
  failPropose = false;
  override step(m: Message): void {
    if (this.failStep) throw new AssertionFailure("injected: step");
    super.step(m);
  }
  override propose(data: Uint8Array): ProposeResult {
    if (this.failPropose) throw new AssertionFailure("injected: propose");
    return super.propose(data);
  }
}

interface Pair {
  nodes: Map<string, RaftkvNode>;
  cores: Map<string, BrokenRaft>;
  fatal: Map<string, unknown[]>;
  tick(): Promise<void>;
  until(what: string, cond: () => boolean): Promise<void>;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

async function startPair(ids: string[]): Promise<Pair> {
  let now = 1_000_000;
  const tickers = new Map<string, () => void>();
  const network = new MemoryNetwork();
  const initialCluster = memoryMembers(ids);
  const nodes = new Map<string, RaftkvNode>();
  const cores = new Map<string, BrokenRaft>();
  const fatal = new Map<string, unknown[]>();
  for (const [i, id] of ids.entries()) {
    const { storage, config, scheduler } = await memoryFounder(
      id,
      initialCluster,
      tickers,
      TICK_MS,
    );
    fatal.set(id, []);
    nodes.set(
      id,
      await RaftkvNode.start({
        config,
        storage,
        transport: network.transport(id),
        log: silentLogger,
        now: () => now,
        monotonicMs: () => now,
        scheduler,
        saveMemberBook: () => Promise.resolve(),
        loadMemberBook: () => Promise.resolve(null),
        seed: i + 1,
        newRaft: (c: RaftConfig) => {
          const core = new BrokenRaft(c);
          cores.set(id, core);
          return core;
        },
        onFatal: (e) => fatal.get(id)!.push(e),
      }),
    );
  }
  const pair: Pair = {
    nodes,
    cores,
    fatal,
    async tick() {
      now += TICK_MS;
      for (const fn of [...tickers.values()]) fn();
      await settle();
    },
    async until(what, cond) {
      for (let i = 0; i < MAX_TICKS && !cond(); i++) await pair.tick();
      assert.ok(cond(), `${what} within ${MAX_TICKS} virtual ticks`);
    },
  };
  await pair.until(
    "a leader",
    () => [...nodes.values()].some((n) => n.status().role === "leader"),
  );
  return pair;
}

async function stopAll(p: Pair): Promise<void> {
  for (const n of p.nodes.values()) {
    const stopping = n.stop();
    let done = false;
    stopping.finally(() => (done = true));
    for (let i = 0; i < MAX_TICKS && !done; i++) await p.tick();
    await stopping;
  }
}

Deno.test("an AssertionFailure from a step on the transport's callback calls onFatal", async () => {
  const p = await startPair(["n1", "n2"]);
  try {
    const follower = [...p.nodes.values()].find((n) => n.status().role !== "leader")!;
    p.cores.get(follower.id)!.failStep = true;
    await p.until("the follower's onFatal", () => p.fatal.get(follower.id)!.length > 0);
    const [error] = p.fatal.get(follower.id)!;
    assert.ok(error instanceof AssertionFailure);
    assert.match(error.message, /injected: step/);
    // Stopped: it answers no more writes, and the fatal error is reported once.
    for (let i = 0; i < 20; i++) await p.tick();
    assert.equal(p.fatal.get(follower.id)!.length, 1);
    await assert.rejects(
      follower.write(PUT, {
        idempotencyKey: null,
        signal: new AbortController().signal,
      }),
      (e) => e instanceof RaftkvError && e.code === "unavailable",
    );
  } finally {
    await stopAll(p);
  }
});

Deno.test("an AssertionFailure from a proposal in an API call calls onFatal, not a 500", async () => {
  const p = await startPair(["n1", "n2"]);
  try {
    const leader = [...p.nodes.values()].find((n) => n.status().role === "leader")!;
    p.cores.get(leader.id)!.failPropose = true;
    await assert.rejects(
      leader.write(PUT, {
        idempotencyKey: null,
        signal: new AbortController().signal,
      }),
      (e) => e instanceof RaftkvError && e.code === "unavailable",
    );
    assert.equal(p.fatal.get(leader.id)!.length, 1);
    assert.ok(p.fatal.get(leader.id)![0] instanceof AssertionFailure);
    // Nothing else is reported fatal on the other node.
    assert.equal(p.fatal.get([...p.nodes.keys()].find((id) => id !== leader.id)!)!.length, 0);
  } finally {
    await stopAll(p);
  }
});
