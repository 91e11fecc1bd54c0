import assert, { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { type Entry, EntryType, type Message, MessageType } from "../../src/raft/messages.ts";
import { Raft } from "../../src/raft/raft.ts";
import { bytes, Network } from "./network.ts";

function logOf(terms: number[]): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: i + 1,
    type: EntryType.Normal,
    data: bytes(`${i + 1}`),
  }));
}

function termsOf(log: MemoryStableLog): number[] {
  const out: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i) as number);
  return out;
}

const conf = { voters: ["L", "F", "X"], learners: [] };
const LEADER_TERMS = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIGURE_7: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 1, 4],
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 1, 4, 4, 4, 4],
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

for (const [name, followerTerms] of Object.entries(FIGURE_7)) {
  Deno.test(`figure 7: a new leader repairs follower (${name})`, () => {
    const hs = { term: 7, vote: null, commit: 0 };
    const logs = {
      L: new MemoryStableLog({ conf, hardState: hs, entries: logOf(LEADER_TERMS) }),
      X: new MemoryStableLog({ conf, hardState: hs, entries: logOf(LEADER_TERMS) }),
      F: new MemoryStableLog({ conf, hardState: hs, entries: logOf(followerTerms) }),
    };
    const net = new Network({ voters: ["L", "F", "X"], logs });
    net.elect("L");
    assertEquals(net.leader(), "L");
    net.tick(3);
    const expected = [...LEADER_TERMS, 8];
    assertEquals(termsOf(logs.F), expected);
    assertEquals(termsOf(logs.L), expected);
    assertEquals(net.raft("F").status().commit, 11);
    // Fast backtracking: at most one rejection per conflicting term, not per entry.
    const rejections = net.sent.filter((m) =>
      m.type === MessageType.AppendResponse && m.from === "F" && m.reject
    ).length;
    ok(rejections <= 3, `${rejections} rejections`);
  });
}

Deno.test("figure 8: an old-term entry is not committed by counting replicas", () => {
  const five = { voters: ["s1", "s2", "s3", "s4", "s5"], learners: [] };
  const hs = { term: 3, vote: null, commit: 1 };
  const logs = {
    s1: new MemoryStableLog({ conf: five, hardState: hs, entries: logOf([1, 2]) }),
    s2: new MemoryStableLog({ conf: five, hardState: hs, entries: logOf([1, 2]) }),
    s3: new MemoryStableLog({ conf: five, hardState: hs, entries: logOf([1]) }),
    s4: new MemoryStableLog({ conf: five, hardState: hs, entries: logOf([1]) }),
    s5: new MemoryStableLog({ conf: five, hardState: hs, entries: logOf([1, 3]) }),
  };
  const net = new Network({ voters: five.voters, logs });
  net.down.add("s5");
  // Hold back the new leader's term-4 entries: only the term-2 entry spreads.
  let holdBack = true;
  net.rewrite = (m: Message) =>
    holdBack && m.type === MessageType.Append
      ? { ...m, entries: m.entries.filter((e) => e.term < 4) }
      : m;
  net.elect("s1");
  assertEquals(net.leader(), "s1");
  net.tick(3);
  assertEquals(termsOf(logs.s3), [1, 2]);
  assertEquals(termsOf(logs.s4), [1, 2]);
  // Index 2 is on a majority (s1..s4) but is from term 2: it must not be committed.
  assertEquals(net.raft("s1").status().commit, 1);
  holdBack = false;
  // The stripped entries count as lost: the leader notices the stall and re-sends.
  net.tick(2 * 10);
  assertEquals(net.raft("s1").status().commit, 3);
  assertEquals(net.raft("s3").status().commit, 3);
});

Deno.test("the leader counts its own entry only after advance(), and hands out only durable entries", () => {
  const log = new MemoryStableLog({ conf: { voters: ["a"], learners: [] } });
  const a = new Raft({ id: "a", log, seed: 1 });
  a.campaign();
  let rd = a.ready();
  assertEquals(rd.softState.role, "leader");
  assertEquals(rd.entries.length, 1, "the no-op");
  assertEquals(rd.committedEntries.length, 0);
  assertEquals(a.status().commit, 0, "not durable yet, not committed");
  log.append(rd.entries);
  if (rd.hardState) log.setHardState(rd.hardState);
  a.advance(rd);
  assertEquals(a.status().commit, 1);
  ok(a.propose(bytes("x")).ok);
  rd = a.ready();
  assertEquals(rd.committedEntries.map((e) => e.index), [1]);
  assertEquals(rd.entries.map((e) => e.index), [2]);
  log.append(rd.entries);
  a.advance(rd);
  rd = a.ready();
  assertEquals(rd.committedEntries.map((e) => e.index), [2]);
});

Deno.test("followers ack appends only after persisting; the leader sends appends at once", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  const rd = net.raft("a").ready();
  assertEquals(rd.messages.filter((m) => m.type === MessageType.Append).length, 2);
  assertEquals(rd.entries.length, 1);
  const append = rd.messages[0];
  ok(append && append.type === MessageType.Append);
  const b = net.raft("b");
  b.step(append);
  const brd = b.ready();
  assertEquals(brd.messages.length, 0);
  assertEquals(brd.messagesAfterPersist.map((m) => m.type), [MessageType.AppendResponse]);
});

Deno.test("many proposals between two ready() calls go out as one append per follower", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  const a = net.raft("a");
  for (let i = 0; i < 100; i++) ok(a.propose(bytes(`p${i}`)).ok);
  const rd = a.ready();
  const appends = rd.messages.filter((m) => m.type === MessageType.Append);
  assertEquals(appends.length, 2);
  for (const m of appends) ok(m.type === MessageType.Append && m.entries.length === 100);
});

Deno.test("appends are bounded by maxAppendBytes and pipelined within the in-flight window", () => {
  const net = new Network({
    voters: ["a", "b", "c"],
    config: { maxAppendBytes: 1000, maxInflightAppends: 4 },
  });
  net.elect("a");
  net.tick(1);
  const a = net.raft("a");
  const items = Array.from({ length: 100 }, () => new Uint8Array(100));
  ok(a.proposeBatch(items).ok);
  const rd = a.ready();
  const toB = rd.messages.filter((m) => m.type === MessageType.Append && m.to === "b");
  assertEquals(toB.length, 4, "window of 4 appends");
  for (const m of toB) ok(m.type === MessageType.Append && m.entries.length === 10);
  assertEquals(a.status().progress.get("b")?.inflight, 4);
  // Play host for the Ready taken by hand, then let the pump finish.
  net.node("a").log.append(rd.entries);
  if (rd.hardState) net.node("a").log.setHardState(rd.hardState);
  a.advance(rd);
  for (const m of rd.messages) net.raft(m.to).step(m);
  net.tick(3);
  assertEquals(net.node("b").applied.length, 101);
});

Deno.test("proposals beyond the uncommitted-bytes limit are refused until commits catch up", () => {
  const net = new Network({ voters: ["a", "b", "c"], config: { maxUncommittedBytes: 1000 } });
  net.elect("a");
  net.tick(1);
  net.isolate("a");
  const a = net.raft("a");
  let accepted = 0;
  let result = a.propose(new Uint8Array(100));
  while (result.ok) {
    accepted++;
    result = a.propose(new Uint8Array(100));
  }
  ok(!result.ok && result.reason === "uncommitted_limit", JSON.stringify(result));
  assertEquals(accepted, 10);
  net.heal();
  net.tick(2);
  ok(a.propose(new Uint8Array(100)).ok, "accepted again once committed");
});

Deno.test("followers refuse proposals and name the leader", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const r = net.raft("b").propose(bytes("x"));
  assertEquals(r, { ok: false, reason: "not_leader", leader: "a" });
});

Deno.test("a follower that lost appends catches up via probing", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  net.drop = (m) => m.to === "c" && m.type === MessageType.Append;
  for (let i = 0; i < 20; i++) {
    ok(net.raft("a").propose(bytes(`v${i}`)).ok);
    net.settle();
  }
  net.drop = () => false;
  net.tick(3 * 10);
  assertEquals(net.appliedText("c").length, 20);
});

Deno.test("a restarted node replays its log and rejoins", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  for (let i = 0; i < 5; i++) ok(net.raft("a").propose(bytes(`v${i}`)).ok);
  net.tick(2);
  net.restart("b");
  ok(net.raft("a").propose(bytes("after")).ok);
  net.tick(2);
  assertEquals(net.appliedText("b"), ["v0", "v1", "v2", "v3", "v4", "after"]);
  assertEquals(net.raft("b").status().commit, net.raft("a").status().commit);
});

Deno.test("a follower hands out committed entries only once they are durable locally", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  net.tick(1);
  const b = net.raft("b");
  const st = b.status();
  b.step({
    type: MessageType.Append,
    from: "a",
    to: "b",
    term: st.term,
    prevIndex: st.lastIndex,
    prevTerm: st.term,
    entries: [{ term: st.term, index: st.lastIndex + 1, type: EntryType.Normal, data: bytes("y") }],
    commit: st.lastIndex + 1,
  });
  let rd = b.ready();
  assertEquals(rd.hardState?.commit, st.lastIndex + 1, "commit known");
  assertEquals(rd.committedEntries.length, 0, "but the entry is not durable yet");
  net.node("b").log.append(rd.entries);
  if (rd.hardState) net.node("b").log.setHardState(rd.hardState);
  b.advance(rd);
  rd = b.ready();
  assertEquals(rd.committedEntries.map((e) => e.index), [st.lastIndex + 1]);
});

Deno.test("reportUnreachable drops a follower from pipelining back to probing", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  ok(net.raft("a").propose(bytes("x")).ok);
  net.tick(1);
  assertEquals(net.raft("a").status().progress.get("b")?.state, "replicate");
  net.raft("a").reportUnreachable("b");
  assertEquals(net.raft("a").status().progress.get("b")?.state, "probe");
  ok(net.raft("a").propose(bytes("y")).ok);
  net.tick(1);
  assertEquals(net.raft("a").status().progress.get("b")?.state, "replicate");
  assertEquals(net.appliedText("b"), ["x", "y"]);
});

Deno.test("a leader whose Ready is still being persisted sends heartbeats through takeMessages", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const leader = net.raft("a");
  assert.equal(leader.propose(bytes("slow disk")).ok, true);
  const inFlight = leader.ready(); // the host is now "fsyncing" this Ready
  assert.ok(inFlight.entries.length > 0);
  const sent: Message[] = [];
  for (let i = 0; i < 3; i++) {
    leader.tick();
    sent.push(...leader.takeMessages());
  }
  const heartbeats = sent.filter((m) => m.type === MessageType.Heartbeat);
  assert.ok(heartbeats.some((m) => m.to === "b") && heartbeats.some((m) => m.to === "c"));
  // Nothing that must wait for durability ever leaves this way.
  for (const m of sent) {
    assert.ok(m.type !== MessageType.AppendResponse && m.type !== MessageType.VoteResponse);
  }
  leader.advance(inFlight);
});

Deno.test("a heartbeat crediting a follower with entries it lacks marks its log lost", () => {
  // The leader's heartbeat commit is at most what the follower acknowledged, so a
  // follower whose log ends before it has lost data (a wiped disk): it must not go on.
  const hs = { term: 3, vote: null, commit: 0 };
  const log = new MemoryStableLog({ conf, hardState: hs, entries: logOf([1, 1]) });
  const follower = new Raft({ id: "F", log, seed: 1 });
  follower.step({
    type: MessageType.Heartbeat,
    from: "L",
    to: "F",
    term: 3,
    commit: 2,
    context: 1,
  });
  assert.equal(follower.basicStatus().lostLog, null, "a commit within its log is fine");
  follower.step({
    type: MessageType.Heartbeat,
    from: "L",
    to: "F",
    term: 3,
    commit: 9,
    context: 2,
  });
  assertEquals(follower.basicStatus().lostLog, { lastIndex: 2, acknowledged: 9 });
  assert.equal(follower.basicStatus().commit, 2, "nothing beyond its log is committed");
});
