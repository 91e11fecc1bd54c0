import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { MessageType } from "../../src/raft/messages.ts";
import { bytes, Network } from "./network.ts";

const ELECTION_TICKS = 10;

Deno.test("a leader is elected by timeout alone", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.tickUntil(() => net.leaders().length === 1, 4 * ELECTION_TICKS);
  const lead = net.leader();
  for (const id of ["a", "b", "c"]) assertEquals(net.raft(id).status().leader, lead);
});

Deno.test("split votes resolve through randomized timeouts", () => {
  const net = new Network({ voters: ["a", "b", "c", "d"], config: { preVote: false } });
  // a and b campaign at once; c only hears a, d only hears b: two votes each.
  net.partition("a", "d");
  net.partition("b", "c");
  net.raft("a").campaign();
  net.raft("b").campaign();
  net.settle();
  assertEquals(net.raft("a").status().role, "candidate");
  assertEquals(net.raft("b").status().role, "candidate");
  assertEquals(net.leaders().length, 0);
  net.heal();
  net.tickUntil(() => net.leaders().length === 1, 10 * ELECTION_TICKS);
  const term = net.raft(net.leader()).status().term;
  ok(term >= 2, `a later term won (term ${term})`);
});

Deno.test("a stale leader steps down when it meets a higher term", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.isolate("a");
  // The isolated leader accepts a proposal it can never commit.
  ok(net.raft("a").propose(bytes("lost")).ok);
  net.tickUntil(() => net.leaders().some((id) => id !== "a"), 6 * ELECTION_TICKS);
  net.heal();
  net.tick(3);
  const lead = net.leader();
  ok(lead !== "a", "the new leader keeps its role");
  assertEquals(net.raft("a").status().role, "follower");
  assertEquals(net.raft("a").status().leader, lead);
  ok(net.raft(lead).propose(bytes("kept")).ok);
  net.tick(2);
  for (const id of ["a", "b", "c"]) assertEquals(net.appliedText(id), ["kept"]);
});

Deno.test("a node that cannot hear the leader does not disrupt it (PreVote + CheckQuorum)", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const term = net.raft("a").status().term;
  // Asymmetric partition: c hears nothing from a, but a and b still hear c.
  net.cut.add("a->c");
  net.tick(20 * ELECTION_TICKS);
  assertEquals(net.leader(), "a");
  assertEquals(net.raft("a").status().term, term);
  assertEquals(net.raft("b").status().term, term);
  // c campaigned (pre-vote only): its term never moved.
  ok(net.sent.some((m) => m.type === MessageType.PreVote && m.from === "c"), "c pre-voted");
  assertEquals(net.raft("c").status().term, term);
  ok(net.raft("a").propose(bytes("still-working")).ok);
  net.tick(2);
  assertEquals(net.appliedText("b"), ["still-working"]);
});

Deno.test("without check-quorum leases a rejoining node with a higher term forces an election", () => {
  const net = new Network({
    voters: ["a", "b", "c"],
    config: { preVote: false, checkQuorum: false },
  });
  net.elect("a");
  net.isolate("c");
  net.tick(5 * ELECTION_TICKS);
  const cTerm = net.raft("c").status().term;
  ok(cTerm > net.raft("a").status().term, "isolated c bumped its term");
  net.heal();
  net.tick(5 * ELECTION_TICKS);
  ok(net.raft(net.leader()).status().term >= cTerm, "the cluster moved to c's term");
});

Deno.test("a leader steps down when it cannot hear a quorum", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.isolate("a");
  net.tick(2 * ELECTION_TICKS);
  assertEquals(net.raft("a").status().role, "follower");
  assertEquals(net.raft("a").status().leader, null);
});

Deno.test("a candidate's vote requests wait for persistence; pre-votes do not", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  const a = net.raft("a");
  a.campaign();
  let rd = a.ready();
  assertEquals(rd.hardState, null, "pre-vote changes nothing durable");
  assertEquals(rd.messages.map((m) => m.type), [MessageType.PreVote, MessageType.PreVote]);
  a.advance(rd);
  for (const from of ["b", "c"]) {
    a.step({ type: MessageType.PreVoteResponse, from, to: "a", term: 1, reject: false });
  }
  rd = a.ready();
  assertEquals(rd.hardState, { term: 1, vote: "a", commit: 0 });
  assertEquals(rd.messages.length, 0);
  assertEquals(rd.messagesAfterPersist.map((m) => m.type), [MessageType.Vote, MessageType.Vote]);
});

Deno.test("vote grants are sent only after persistence, rejections at once", () => {
  const net = new Network({ voters: ["a", "b", "c"], config: { preVote: false } });
  const b = net.raft("b");
  b.step({
    type: MessageType.Vote,
    from: "a",
    to: "b",
    term: 1,
    lastIndex: 0,
    lastTerm: 0,
    transfer: false,
  });
  let rd = b.ready();
  assertEquals(rd.hardState?.vote, "a");
  assertEquals(rd.messagesAfterPersist.map((m) => m.type), [MessageType.VoteResponse]);
  b.advance(rd);
  b.step({
    type: MessageType.Vote,
    from: "c",
    to: "b",
    term: 1,
    lastIndex: 0,
    lastTerm: 0,
    transfer: false,
  });
  rd = b.ready();
  assertEquals(rd.messages.length, 1);
  ok(rd.messages[0]?.type === MessageType.VoteResponse && rd.messages[0].reject, "rejected");
});

Deno.test("a voter rejects a candidate whose log is behind", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  net.settle();
  net.isolate("a");
  // A raw request from a candidate whose log ends before ours.
  const b = net.raft("b");
  b.tick(); // b is in lease; a transfer-flagged request bypasses the lease check
  b.step({
    type: MessageType.Vote,
    from: "c",
    to: "b",
    term: 5,
    lastIndex: 1,
    lastTerm: 1,
    transfer: true,
  });
  const rd = b.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResponse);
  ok(resp && resp.type === MessageType.VoteResponse && resp.reject, "stale log rejected");
});

Deno.test("step ignores malformed messages without corrupting state", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const before = net.raft("b").status();
  const garbage: unknown[] = [
    { type: MessageType.Append, from: "a", to: "b", term: NaN },
    { type: MessageType.Append, from: "a", to: "b", term: 99, prevIndex: -1, prevTerm: 0 },
    {
      type: MessageType.Append,
      from: "a",
      to: "b",
      term: before.term,
      prevIndex: 1,
      prevTerm: 1,
      commit: 1,
      entries: [{ index: 7, term: 1, type: 0, data: new Uint8Array() }],
    },
    { type: 999, from: "a", to: "b", term: 50 },
    { type: MessageType.Heartbeat, from: "", to: "b", term: 50, commit: 0, context: 0 },
    { type: MessageType.Snapshot, from: "a", to: "b", term: 50, snapshot: null },
    null,
  ];
  // deno-lint-ignore no-explicit-any
  for (const g of garbage) net.raft("b").step(g as any);
  const after = net.raft("b").status();
  assertEquals(after.term, before.term);
  assertEquals(after.lastIndex, before.lastIndex);
  assertEquals(after.commit, before.commit);
});

Deno.test("a restarted voter keeps a possible leader lease for one election timeout", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.restart("b");
  const b = net.raft("b");
  const vote = {
    type: MessageType.Vote,
    from: "c",
    to: "b",
    term: 50,
    lastIndex: 100,
    lastTerm: 40,
    transfer: false,
  } as const;
  net.isolate("b");
  b.step(vote);
  assertEquals(b.status().term, 1, "ignored inside the startup lease");
  for (let i = 0; i < ELECTION_TICKS; i++) b.tick();
  b.step(vote);
  assertEquals(b.status().term, 50, "answered once the lease ran out");
});

Deno.test("a stale leader is told the newer term even without PreVote and CheckQuorum", () => {
  const net = new Network({
    voters: ["a", "b", "c"],
    config: { preVote: false, checkQuorum: false },
  });
  net.elect("a");
  const b = net.raft("b");
  b.step({
    type: MessageType.Vote,
    from: "c",
    to: "b",
    term: 9,
    lastIndex: 100,
    lastTerm: 9,
    transfer: false,
  });
  b.ready();
  b.step({
    type: MessageType.Heartbeat,
    from: "a",
    to: "b",
    term: 1,
    commit: 0,
    context: 0,
  });
  const rd = b.ready();
  const answer = rd.messages.find((m) => m.to === "a");
  ok(answer && answer.type === MessageType.AppendResponse && answer.term === 9);
});

Deno.test("a rejoining partitioned node cannot depose a healthy leader", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const term = net.raft("a").status().term;
  net.isolate("c");
  net.tick(20 * ELECTION_TICKS);
  assertEquals(net.raft("c").status().term, term, "pre-vote kept c's term");
  net.heal();
  net.tick(5 * ELECTION_TICKS);
  assertEquals(net.leader(), "a");
  assertEquals(net.raft("a").status().term, term);
  assertEquals(net.raft("c").status().leader, "a");
});

Deno.test("a voter refuses a candidate whose log ends below a commit index a leader announced", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const term = net.raft("a").status().term;
  net.isolate("a");
  const b = net.raft("b");
  b.ready(); // drop what the election left
  // The leader announces commit 40 in an append b cannot take (as to a wiped voter).
  b.step({
    type: MessageType.Append,
    from: "a",
    to: "b",
    term,
    prevIndex: 50,
    prevTerm: term,
    entries: [],
    commit: 40,
  });
  b.ready();
  b.tick(); // b is in lease; a transfer-flagged request bypasses the lease check
  // A candidate with a later last term (so "up to date" by the log rule) but ending at 30.
  const vote = (lastIndex: number) =>
    b.step({
      type: MessageType.Vote,
      from: "c",
      to: "b",
      term: term + 5,
      lastIndex,
      lastTerm: term + 1,
      transfer: true,
    });
  vote(30);
  const refused = b.ready().messages.find((m) => m.type === MessageType.VoteResponse);
  ok(refused?.type === MessageType.VoteResponse && refused.reject, "lacks a committed entry");
  vote(40);
  const rd = b.ready();
  const granted = [...rd.messages, ...rd.messagesAfterPersist].find((m) =>
    m.type === MessageType.VoteResponse
  );
  ok(granted?.type === MessageType.VoteResponse && !granted.reject, "holds every committed entry");
});
