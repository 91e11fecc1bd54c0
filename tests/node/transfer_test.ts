/**
 * Leadership transfer and the stop hand-off wait on conditions the Ready loop checks,
 * with deadlines on the node's injected clock: three nodes over in-memory storage and
 * transport, ticked by hand on a virtual clock (no timers, no sleeping).
 */

import assert from "node:assert/strict";
import { RaftkvNode } from "../../src/node/node.ts";
import { silentLogger } from "../../src/node/log.ts";
import { MemoryNetwork } from "../../src/transport/memory_transport.ts";
import { RaftkvError } from "../../src/errors.ts";
import { memoryFounder, memoryMembers } from "./test_config.ts";

const TICK_MS = 10;
/** Virtual ticks a test may run before it gives up. */
const MAX_TICKS = 2_000;

interface Cluster {
  nodes: Map<string, RaftkvNode>;
  network: MemoryNetwork;
  /** Advances the virtual clock by one tick on every node, then lets promises settle. */
  tick(): Promise<void>;
  until(what: string, cond: () => boolean): Promise<void>;
  leader(): RaftkvNode | undefined;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

async function startCluster(ids: string[]): Promise<Cluster> {
  let now = 1_000_000;
  const tickers = new Map<string, () => void>();
  const network = new MemoryNetwork();
  const initialCluster = memoryMembers(ids);
  const nodes = new Map<string, RaftkvNode>();
  for (const [i, id] of ids.entries()) {
    const { storage, config, scheduler } = await memoryFounder(
      id,
      initialCluster,
      tickers,
      TICK_MS,
    );
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
      }),
    );
  }
  const cluster: Cluster = {
    nodes,
    network,
    async tick() {
      now += TICK_MS;
      for (const fn of [...tickers.values()]) fn();
      await settle();
    },
    async until(what, cond) {
      for (let i = 0; i < MAX_TICKS && !cond(); i++) await cluster.tick();
      assert.ok(cond(), `${what} within ${MAX_TICKS} virtual ticks`);
    },
    leader: () => [...nodes.values()].find((n) => n.status().role === "leader"),
  };
  await cluster.until("a leader", () => cluster.leader() !== undefined);
  return cluster;
}

async function stopAll(c: Cluster): Promise<void> {
  for (const n of c.nodes.values()) {
    const stopping = n.stop();
    // A leader's hand-off waits on ticks: keep the clock moving until it returns.
    let done = false;
    stopping.finally(() => (done = true));
    for (let i = 0; i < MAX_TICKS && !done; i++) await c.tick();
    await stopping;
  }
}

Deno.test("transferLeader resolves once the loop sees the target lead, on virtual time", async () => {
  const c = await startCluster(["n1", "n2", "n3"]);
  try {
    const leader = c.leader()!;
    const to = [...c.nodes.keys()].find((id) => id !== leader.id)!;
    await c.until("the new leader's first commit", () => leader.status().commitIndex > 3);
    let settled = false;
    const transfer = leader.transferLeader(to, new AbortController().signal);
    transfer.finally(() => (settled = true));
    await c.until("the transfer to finish", () => settled);
    await transfer;
    assert.equal(c.nodes.get(to)!.status().role, "leader");
  } finally {
    await stopAll(c);
  }
});

Deno.test("transferLeader gives up at its deadline on the node's clock when the target is cut off", async () => {
  const c = await startCluster(["n1", "n2", "n3"]);
  try {
    const leader = c.leader()!;
    const to = [...c.nodes.keys()].find((id) => id !== leader.id)!;
    await c.until("the new leader's first commit", () => leader.status().commitIndex > 3);
    c.network.filter = (from, target) => from !== to && target !== to;
    let settled = false;
    const transfer = leader.transferLeader(to, new AbortController().signal);
    transfer.catch(() => {}).finally(() => (settled = true));
    await c.until("the transfer to give up", () => settled);
    await assert.rejects(
      transfer,
      (e) => e instanceof RaftkvError && /did not take over in time/.test(e.message),
    );
    c.network.filter = null;
  } finally {
    await stopAll(c);
  }
});

Deno.test("a stopping leader hands leadership to a voter before it returns", async () => {
  const c = await startCluster(["n1", "n2", "n3"]);
  try {
    const leader = c.leader()!;
    await c.until("the new leader's first commit", () => leader.status().commitIndex > 3);
    let stopped = false;
    const stopping = leader.stop();
    stopping.finally(() => (stopped = true));
    await c.until("the hand-off", () => stopped);
    await stopping;
    // Handed off, not abandoned: another voter already leads when stop() returns, with
    // no election timeout spent.
    const others = [...c.nodes.values()].filter((n) => n !== leader);
    assert.ok(
      others.some((n) => n.status().role === "leader"),
      "a voter took over before stop returned",
    );
  } finally {
    await stopAll(c);
  }
});

Deno.test("a leader removing itself answers once the remaining voters know the commit", async () => {
  // Four voters, n4 lost for good: a quorum of the old four needs three, of the new
  // three (n4 still counted) two. An operator stops the removed leader on its answer.
  const c = await startCluster(["n1", "n2", "n3", "n4"]);
  try {
    const leader = c.leader()!;
    await c.until("the new leader's first commit", () => leader.status().commitIndex > 4);
    const lost = [...c.nodes.values()].find((n) => n !== leader)!;
    // Stopped the moment it no longer leads (at the latest, when the call answers).
    let stopped = false;
    c.network.filter = (from, target) => {
      if (leader.status().role !== "leader") stopped = true;
      return from !== lost.id && target !== lost.id &&
        !(stopped && (from === leader.id || target === leader.id));
    };
    let answered = false;
    const removing = leader.removeMember(leader.id, new AbortController().signal);
    removing.finally(() => (answered = true));
    await c.until("the removal to answer", () => answered);
    await removing;
    assert.notEqual(leader.status().role, "leader");
    const others = [...c.nodes.values()].filter((n) => n !== leader && n !== lost);
    // Both know the removal committed, so they no longer count it: they elect one of them.
    for (const n of others) {
      assert.ok(!n.cluster().members.some((m) => m.id === leader.id), `${n.id} dropped it`);
    }
    await c.until(
      "a leader among the remaining two",
      () => others.some((n) => n.status().role === "leader"),
    );
  } finally {
    c.network.filter = null;
    await stopAll(c);
  }
});
