import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { MessageType } from "../../src/raft/messages.ts";
import { Raft } from "../../src/raft/raft.ts";
import { bytes, Network } from "./network.ts";

const ELECTION_TICKS = 10;

function heartbeatsWithContext(net: Network, from: string, since: number): number {
  return net.sent.slice(since).filter((m) =>
    m.type === MessageType.Heartbeat && m.from === from && m.context > 0
  ).length;
}

Deno.test("one heartbeat round confirms a whole batch of reads at the commit index", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  net.settle();
  const commit = net.raft("a").status().commit;
  const since = net.sent.length;
  for (let ctx = 1; ctx <= 50; ctx++) net.raft("a").readIndex(ctx, "safe");
  net.settle();
  assertEquals(heartbeatsWithContext(net, "a", since), 2, "one round: one heartbeat per follower");
  const rs = net.node("a").readStates;
  assertEquals(rs.length, 50);
  ok(rs.every((r) => r.index === commit));
  assertEquals(rs.map((r) => r.context), Array.from({ length: 50 }, (_, i) => i + 1));
});

Deno.test("reads wait until the new leader has committed an entry of its term", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.drop = (m) => m.type === MessageType.AppendResponse;
  net.elect("a");
  net.raft("a").readIndex(7, "safe");
  net.settle();
  assertEquals(net.node("a").readStates.length, 0);
  net.drop = () => false;
  net.tick(2);
  const commit = net.raft("a").status().commit;
  assertEquals(net.node("a").readStates, [{ context: 7, index: commit }]);
});

Deno.test("a read is not confirmed without a quorum", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.isolate("a");
  net.raft("a").readIndex(1, "safe");
  net.tick(3);
  assertEquals(net.node("a").readStates.length, 0);
});

Deno.test("followers and learners obtain a read index from the leader", () => {
  const net = new Network({ voters: ["a", "b", "c"], learners: ["l"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  net.tick(1);
  const commit = net.raft("a").status().commit;
  net.raft("b").readIndex(11, "safe");
  net.raft("l").readIndex(12, "lease");
  net.settle();
  assertEquals(net.node("b").readStates, [{ context: 11, index: commit }]);
  assertEquals(net.node("l").readStates, [{ context: 12, index: commit }]);
});

Deno.test("a read without a known leader is dropped", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.raft("b").readIndex(1, "safe");
  net.settle();
  assertEquals(net.sent.length, 0);
  assertEquals(net.node("b").readStates.length, 0);
});

Deno.test("lease reads are served without a round while the lease holds", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  ok(net.raft("a").status().leaseValid);
  const since = net.sent.length;
  net.raft("a").readIndex(5, "lease");
  const rd = net.raft("a").ready();
  assertEquals(rd.readStates, [{ context: 5, index: net.raft("a").status().commit }]);
  assertEquals(heartbeatsWithContext(net, "a", since), 0);
  assertEquals(rd.messages.length, 0);
});

Deno.test("the lease expires before the election timeout when the quorum is silent", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.isolate("a");
  let ticks = 0;
  while (net.raft("a").status().leaseValid) {
    net.tick(1);
    ticks++;
  }
  ok(ticks < ELECTION_TICKS, `lease ran out after ${ticks} ticks`);
  net.raft("a").readIndex(9, "lease");
  net.tick(1);
  assertEquals(net.node("a").readStates.length, 0, "falls back to a round that cannot finish");
});

Deno.test("lease reads need check-quorum", () => {
  const net = new Network({ voters: ["a", "b", "c"], config: { checkQuorum: false } });
  net.elect("a");
  net.tick(1);
  assertEquals(net.raft("a").status().leaseValid, false);
  const since = net.sent.length;
  net.raft("a").readIndex(3, "lease");
  net.settle();
  assertEquals(heartbeatsWithContext(net, "a", since), 2, "served by a round instead");
  assertEquals(net.node("a").readStates.length, 1);
});

Deno.test("a single-node cluster serves reads once its no-op is committed", () => {
  const log = new MemoryStableLog({ conf: { voters: ["a"], learners: [] } });
  const a = new Raft({ id: "a", log, seed: 3 });
  a.campaign();
  a.readIndex(1, "safe");
  let rd = a.ready();
  assertEquals(rd.readStates.length, 0);
  log.append(rd.entries);
  if (rd.hardState) log.setHardState(rd.hardState);
  a.advance(rd);
  rd = a.ready();
  assertEquals(rd.readStates, [{ context: 1, index: 1 }]);
});

Deno.test("heartbeat echoes skip the fsync queue once the term is durable", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  const b = net.raft("b");
  const hb = { type: MessageType.Heartbeat, from: "a", to: "b", commit: 0, context: 1 } as const;
  b.step({ ...hb, term: 1 });
  let rd = b.ready();
  assertEquals(rd.messagesAfterPersist.map((m) => m.type), [MessageType.HeartbeatResponse]);
  net.node("b").log.setHardState(rd.hardState ?? { term: 0, vote: null, commit: 0 });
  b.advance(rd);
  b.step({ ...hb, term: 1, context: 2 });
  rd = b.ready();
  assertEquals(rd.messages.map((m) => m.type), [MessageType.HeartbeatResponse]);
  assertEquals(rd.messagesAfterPersist.length, 0);
});

Deno.test("heartbeat echoes wait behind unpersisted appends", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  const rd = net.raft("a").ready();
  const append = rd.messages.find((m) => m.type === MessageType.Append && m.to === "b");
  ok(append);
  const b = net.raft("b");
  b.step(append);
  const term = b.status().term;
  b.step({ type: MessageType.Heartbeat, from: "a", to: "b", term, commit: 0, context: 9 });
  const brd = b.ready();
  assertEquals(brd.messages.length, 0);
  assertEquals(brd.messagesAfterPersist.map((m) => m.type), [
    MessageType.AppendResponse,
    MessageType.HeartbeatResponse,
  ]);
});
