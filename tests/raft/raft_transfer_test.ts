import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import { bytes, Network } from "./network.ts";

const ELECTION_TICKS = 10;

Deno.test("leadership transfer hands over to an up-to-date voter", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  const a = net.raft("a");
  ok(a.transferLeader("b"));
  net.settle();
  assertEquals(net.leader(), "b");
  ok(net.sent.some((m) => m.type === MessageType.TimeoutNow && m.to === "b"));
  ok(net.raft("b").propose(bytes("x")).ok);
  net.tick(1);
  assertEquals(net.appliedText("a"), ["x"]);
});

Deno.test("a lagging transfer target is caught up first; proposals are refused meanwhile", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.partition("a", "b");
  for (let i = 0; i < 5; i++) ok(net.raft("a").propose(bytes(`v${i}`)).ok);
  net.settle();
  const a = net.raft("a");
  ok(a.transferLeader("b"));
  assertEquals(a.propose(bytes("no")), {
    ok: false,
    reason: "transfer_in_progress",
    leader: "a",
  });
  net.heal();
  net.tick(2);
  assertEquals(net.leader(), "b");
  assertEquals(net.appliedText("b"), ["v0", "v1", "v2", "v3", "v4"]);
});

Deno.test("a transfer to an unreachable target aborts after an election timeout", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.isolate("b");
  const a = net.raft("a");
  ok(a.propose(bytes("x")).ok);
  net.settle();
  ok(a.transferLeader("b"));
  ok(!a.propose(bytes("y")).ok);
  net.tick(ELECTION_TICKS);
  assertEquals(net.leaders().includes("a"), true);
  ok(a.propose(bytes("z")).ok, "proposals accepted again");
});

Deno.test("transfer is refused to non-voters, to itself and by followers", () => {
  const net = new Network({ voters: ["a", "b"], learners: ["l"] });
  net.elect("a");
  assertEquals(net.raft("a").transferLeader("l"), false);
  assertEquals(net.raft("a").transferLeader("a"), false);
  assertEquals(net.raft("a").transferLeader("zz"), false);
  assertEquals(net.raft("b").transferLeader("a"), false);
});

Deno.test("no lease reads during and shortly after a transfer attempt", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.isolate("b");
  const a = net.raft("a");
  ok(a.status().leaseValid);
  ok(a.transferLeader("b"));
  assertEquals(a.status().leaseValid, false);
  net.tick(ELECTION_TICKS); // aborted
  ok(a.propose(bytes("z")).ok);
  assertEquals(a.status().leaseValid, false, "a late TimeoutNow could still depose us");
  net.tick(ELECTION_TICKS);
  ok(a.status().leaseValid);
});
