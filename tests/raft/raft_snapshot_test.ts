import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import { bytes, Network } from "./network.ts";

const conf = { voters: ["a", "b", "c"], learners: [] };

function setupLaggingFollower(): { net: Network; compactedAt: number } {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.isolate("c");
  for (let i = 0; i < 50; i++) ok(net.raft("a").propose(bytes(`v${i}`)).ok);
  net.settle();
  const applied = net.raft("a").status().applied;
  net.node("a").log.compact(applied - 5, conf);
  return { net, compactedAt: applied - 5 };
}

Deno.test("a follower behind the leader's first index receives and installs a snapshot", () => {
  const { net, compactedAt } = setupLaggingFollower();
  net.heal();
  net.tick(3);
  const snaps = net.sent.filter((m) => m.type === MessageType.Snapshot && m.to === "c");
  assertEquals(snaps.length, 1);
  const s = snaps[0];
  ok(s && s.type === MessageType.Snapshot);
  assertEquals(s.snapshot.index, compactedAt);
  const c = net.node("c");
  assertEquals(c.snapshotIndex, compactedAt, "the Ready carried the snapshot");
  assertEquals(c.log.firstIndex(), compactedAt + 1);
  assertEquals(c.raft.status().commit, net.raft("a").status().commit);
  assertEquals(c.raft.status().conf, conf);
  // Besides what it applied before the partition (the no-op), only the entries after
  // the snapshot were applied one by one.
  assertEquals(c.applied.map((e) => e.index), [1, ...[1, 2, 3, 4, 5].map((k) => compactedAt + k)]);
});

Deno.test("the leader waits in snapshot state until the host reports the transfer", () => {
  const { net } = setupLaggingFollower();
  net.autoReportSnapshot = false;
  net.drop = (m) => m.type === MessageType.Snapshot; // shipping fails
  net.heal();
  net.tick(1);
  assertEquals(net.raft("a").status().progress.get("c")?.state, "snapshot");
  net.tick(3);
  const sent = net.sent.filter((m) => m.type === MessageType.Snapshot).length;
  assertEquals(sent, 1, "no re-send while the snapshot is in flight");
  net.raft("a").reportSnapshot("c", false);
  assertEquals(net.raft("a").status().progress.get("c")?.state, "probe");
  net.drop = () => false;
  net.autoReportSnapshot = true;
  net.tick(3);
  ok(net.sent.filter((m) => m.type === MessageType.Snapshot).length >= 2, "retried");
  assertEquals(net.raft("c").status().commit, net.raft("a").status().commit);
});

Deno.test("a snapshot whose last entry the follower already has only fast-forwards commit", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  for (let i = 0; i < 3; i++) ok(net.raft("a").propose(bytes(`v${i}`)).ok);
  net.tick(1);
  const b = net.raft("b");
  const st = b.status();
  b.step({
    type: MessageType.Snapshot,
    from: "a",
    to: "b",
    term: st.term,
    snapshot: { index: st.lastIndex, term: st.term, conf },
  });
  const rd = b.ready();
  assertEquals(rd.snapshot, null);
  assertEquals(b.status().commit, st.lastIndex);
});

Deno.test("a snapshot ack is sent only after persistence with the snapshot's index", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  const c = net.raft("c");
  c.step({
    type: MessageType.Snapshot,
    from: "a",
    to: "c",
    term: 3,
    snapshot: { index: 40, term: 2, conf },
  });
  const rd = c.ready();
  assertEquals(rd.snapshot?.index, 40);
  assertEquals(rd.hardState, { term: 3, vote: null, commit: 40 });
  assertEquals(rd.messages.length, 0);
  const ack = rd.messagesAfterPersist[0];
  ok(ack && ack.type === MessageType.AppendResponse && !ack.reject && ack.index === 40);
});
