/**
 * Each precondition of the core fires, as an AssertionFailure, when a caller breaks it.
 * A handful per module: they show the checks are live, not that every path is covered.
 */
import assert from "node:assert/strict";
import { assert as check, AssertionFailure, isAssertionFailure } from "../../src/raft/assert.ts";
import { applyConfChange, confChangeError } from "../../src/raft/confchange.ts";
import { RaftLog } from "../../src/raft/log.ts";
import { MemoryStableLog } from "../../src/raft/memory_log.ts";
import { type Entry, EntryType } from "../../src/raft/messages.ts";
import { majority } from "../../src/raft/quorum.ts";
import { Raft } from "../../src/raft/raft.ts";
import { ReadOnlyQueue } from "../../src/raft/read_only.ts";
import { FollowerProgress, Inflights } from "../../src/raft/tracker.ts";

function ents(from: number, terms: number[]): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: from + i,
    type: EntryType.Normal,
    data: new Uint8Array(4),
  }));
}

function fails(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isAssertionFailure(e), `expected an AssertionFailure, got ${String(e)}`);
    assert.match((e as Error).message, message);
    return true;
  });
}

Deno.test("an assertion failure is its own error type, naming what broke", () => {
  check(true, "holds");
  fails(() => check(0, "zero is false"), /assertion failed: zero is false/);
  const e = new AssertionFailure("x");
  assert.equal(e.name, "AssertionFailure");
  assert.ok(e instanceof Error);
});

Deno.test("log: appends must be contiguous, gap-free and above commit", () => {
  const log = new RaftLog(new MemoryStableLog(), 0, 0);
  log.append(ents(1, [1, 1, 1]));
  fails(() => log.append(ents(5, [1])), /gap/);
  const holey = [...ents(4, [1]), ...ents(6, [1])];
  fails(() => log.append(holey), /contiguous/);
  fails(() => log.append([...ents(4, [2]), ...ents(5, [1])]), /terms do not decrease/);
  log.commitTo(2);
  fails(() => log.append(ents(2, [2])), /below commit/);
  fails(() => log.commitTo(9), /beyond last/);
});

Deno.test("log: applied never passes commit, and terms are asked of real indexes", () => {
  const storage = new MemoryStableLog({ entries: ents(1, [1, 1, 1]) });
  const log = new RaftLog(storage, 2, 0);
  fails(() => log.appliedTo(3), /beyond commit/);
  fails(() => log.term(-1), /negative index/);
  fails(() => log.entriesFrom(0, 100), /index 1 or later/);
  fails(() => log.maybeAppend(1, 1, 3, ents(3, [1])), /prev \+ 1/);
});

Deno.test("tracker: next stays beyond match; in-flight indexes never go back", () => {
  const pr = new FollowerProgress(5, false, 4);
  pr.match = 7; // a caller that forgot to move next
  fails(() => pr.becomeSnapshot(9), /next > match/);
  fails(() => new FollowerProgress(0, false, 4), /at least 1/);
  const inflights = new Inflights(4);
  inflights.add(10);
  fails(() => inflights.add(9), /never go back/);
  fails(() => new Inflights(0), /positive/);
});

Deno.test("quorum, read queue and membership reject impossible inputs", () => {
  fails(() => majority(-1), /non-negative/);
  fails(() => majority(1.5), /integer/);
  const reads = new ReadOnlyQueue();
  fails(() => reads.assign(0), /round is positive/);
  fails(() => reads.add(0, "n1", 3), /context is positive/);
  fails(() => reads.markCommitted(0), /real commit/);
  const twice = { voters: ["n1", "n2"], learners: ["n2"] };
  fails(() => confChangeError(twice, { type: "addLearner", nodeId: "n3", context: "" }), /twice/);
  const one = { voters: ["n1"], learners: [] };
  assert.deepEqual(applyConfChange(one, { type: "remove", nodeId: "n1", context: "" }), one);
});

Deno.test("raft: the host may apply only what it was handed, in one contiguous run", () => {
  const conf = { voters: ["n1"], learners: [] };
  const log = new MemoryStableLog({ conf, hardState: { term: 1, vote: null, commit: 0 } });
  const raft = new Raft({ id: "n1", log, seed: 1 });
  raft.campaign();
  const rd = raft.ready();
  log.append(rd.entries);
  raft.advance(rd);
  fails(() => raft.appliedEntries(ents(5, [1])), /only entries handed out/);
  fails(() => raft.appliedEntries([...ents(1, [1]), ...ents(3, [1])]), /contiguous/);
});
