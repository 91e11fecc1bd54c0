import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { RaftLog } from "../../src/raft/log.ts";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { type Entry, EntryType } from "../../src/raft/messages.ts";

function ents(from: number, terms: number[]): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: from + i,
    type: EntryType.Normal,
    data: new Uint8Array(10),
  }));
}

Deno.test("unstable entries are handed out once and dropped when made durable", () => {
  const storage = new MemoryStableLog();
  const log = new RaftLog(storage, 0, 0);
  log.append(ents(1, [1, 1, 1]));
  const out = log.takeUnstableEntries();
  assertEquals(out.map((e) => e.index), [1, 2, 3]);
  assertEquals(log.takeUnstableEntries(), []);
  assertEquals(log.persistedIndex(), 0);
  storage.append(out);
  log.stableTo(3, 1);
  assertEquals(log.persistedIndex(), 3);
  assertEquals(log.lastIndex(), 3);
});

Deno.test("a conflicting append truncates the unstable tail and re-hands out", () => {
  const storage = new MemoryStableLog({ entries: ents(1, [1, 1]) });
  const log = new RaftLog(storage, 1, 1);
  log.append(ents(3, [1, 1]));
  log.takeUnstableEntries();
  assertEquals(log.maybeAppend(1, 1, 2, ents(2, [2, 2])), 3);
  assertEquals(log.lastIndex(), 3);
  assertEquals(log.term(2), 2);
  assertEquals(log.persistedIndex(), 1, "the durable entry 2 was overwritten");
  assertEquals(log.takeUnstableEntries().map((e) => `${e.index}@${e.term}`), ["2@2", "3@2"]);
  // An ack for the overwritten hand-out must not mark the new entries durable.
  log.stableTo(4, 1);
  assertEquals(log.persistedIndex(), 1);
});

Deno.test("committed entries are handed out only once durable", () => {
  const storage = new MemoryStableLog();
  const log = new RaftLog(storage, 0, 0);
  log.append(ents(1, [1, 1]));
  log.commitTo(2);
  ok(!log.hasNextCommitted());
  storage.append(log.takeUnstableEntries());
  log.stableTo(2, 1);
  assertEquals(log.takeCommitted(1 << 20).map((e) => e.index), [1, 2]);
  throws(() => log.commitTo(3), /beyond last/);
});

Deno.test("a mismatching prevIndex is rejected; findConflictByTerm skips whole terms", () => {
  const storage = new MemoryStableLog({ entries: ents(1, [1, 1, 2, 2, 2, 3]) });
  const log = new RaftLog(storage, 0, 0);
  assertEquals(log.maybeAppend(6, 4, 0, []), -1);
  assertEquals(log.findConflictByTerm(6, 2), 5);
  assertEquals(log.findConflictByTerm(6, 1), 2);
  assertEquals(log.findConflictByTerm(6, 0), 0);
});

Deno.test("entriesFrom spans storage and the unstable tail within a byte budget", () => {
  const storage = new MemoryStableLog({ entries: ents(1, [1, 1, 1]) });
  const log = new RaftLog(storage, 0, 0);
  log.append(ents(4, [1, 1, 1]));
  assertEquals(log.entriesFrom(2, 1000)?.map((e) => e.index), [2, 3, 4, 5, 6]);
  assertEquals(log.entriesFrom(2, 25)?.map((e) => e.index), [2, 3]);
  assertEquals(log.entriesFrom(3, 25)?.map((e) => e.index), [3, 4]);
  assertEquals(log.entriesFrom(6, 1)?.map((e) => e.index), [6], "at least one");
  storage.compact(2, { voters: [], learners: [] });
  assertEquals(log.entriesFrom(2, 1000), null, "compacted");
});

Deno.test("committed entries taken outside a Ready stop before a membership change", () => {
  const storage = new MemoryStableLog();
  const log = new RaftLog(storage, 0, 0);
  const entries = ents(1, [1, 1, 1, 1]);
  entries[2] = { ...entries[2]!, type: EntryType.ConfChange };
  log.append(entries);
  log.commitTo(4);
  storage.append(log.takeUnstableEntries());
  log.stableTo(4, 1);
  assertEquals(log.takeCommitted(1 << 20, true).map((e) => e.index), [1, 2]);
  // The change and what follows wait for a Ready, which hands them out in full.
  assertEquals(log.takeCommitted(1 << 20, true), []);
  assertEquals(log.takeCommitted(1 << 20).map((e) => e.index), [3, 4]);
});
