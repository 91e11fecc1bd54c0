import assert from "node:assert/strict";
import { Raft } from "../../src/raft/raft.ts";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { type Entry, EntryType, MessageType, type Ready } from "../../src/raft/messages.ts";

function persist(log: MemoryStableLog, rd: Ready): void {
  if (rd.entries.length > 0) log.append(rd.entries);
  if (rd.hardState) log.setHardState(rd.hardState);
}

function entry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([index]) };
}

Deno.test("Ready says mustSync for votes, terms and entries, not for a commit index alone", () => {
  const conf = { voters: ["F", "L"], learners: [] };
  const log = new MemoryStableLog({ conf });
  const f = new Raft({ id: "F", log, seed: 1 });
  // A vote request moves term and vote: must be durable before the grant leaves.
  f.step({
    type: MessageType.Vote,
    from: "L",
    to: "F",
    term: 2,
    lastIndex: 0,
    lastTerm: 0,
    transfer: false,
  });
  let rd = f.ready();
  assert.equal(rd.mustSync, true);
  assert.equal(rd.messagesAfterPersist.length, 1);
  persist(log, rd);
  f.advance(rd);
  // Entries: must sync.
  f.step({
    type: MessageType.Append,
    from: "L",
    to: "F",
    term: 2,
    prevIndex: 0,
    prevTerm: 0,
    entries: [entry(1, 2), entry(2, 2)],
    commit: 0,
  });
  rd = f.ready();
  assert.equal(rd.mustSync, true);
  persist(log, rd);
  f.advance(rd);
  // Only the commit index moves: the hard state is reported, but need not be synced.
  f.step({ type: MessageType.Heartbeat, from: "L", to: "F", term: 2, commit: 2, context: 0 });
  rd = f.ready();
  assert.notEqual(rd.hardState, null);
  assert.equal(rd.hardState?.commit, 2);
  assert.equal(rd.mustSync, false);
  assert.equal(rd.committedEntries.length, 2);
  f.advance(rd);
});

Deno.test("lostLog and dropped messages come out through status, not mutable fields", () => {
  const conf = { voters: ["F", "L"], learners: [] };
  const f = new Raft({ id: "F", log: new MemoryStableLog({ conf }), seed: 1 });
  assert.equal(f.basicStatus().lostLog, null);
  assert.equal(f.basicStatus().droppedMessages, 0);
  f.step({ type: MessageType.Heartbeat, from: "L", to: "F", term: 1, commit: 5, context: 0 });
  const lost = f.basicStatus().lostLog;
  assert.deepEqual(lost, { lastIndex: 0, acknowledged: 5 });
  // The status is a copy: changing it does not change the core.
  if (lost) lost.acknowledged = 0;
  assert.deepEqual(f.basicStatus().lostLog, { lastIndex: 0, acknowledged: 5 });
});

Deno.test("a restart from a snapshot above the durable commit index re-applies nothing", () => {
  // The host snapshotted at 4 (keeping entries below it) but the commit index that rode
  // along with no later write was never synced: the durable hard state says commit 2.
  const conf = { voters: ["A"], learners: [] };
  const log = new MemoryStableLog({
    conf,
    hardState: { term: 1, vote: "A", commit: 2 },
    entries: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)],
  });
  const raft = new Raft({ id: "A", log, seed: 1, applied: 4 });
  assert.equal(raft.basicStatus().applied, 4);
  assert.ok(raft.basicStatus().commit >= 4, "what the host applied is committed");
  const rd = raft.ready();
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [], "nothing handed out again");
});
