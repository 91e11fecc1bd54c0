/**
 * The WAL's preconditions fire as AssertionFailure when a caller breaks them; the
 * commit queue refuses work past its limit without losing anything acknowledged; and
 * whatever was saved reads back equal after a restart.
 */
import assert from "node:assert/strict";
import { AssertionFailure, isAssertionFailure } from "../../src/assert.ts";
import type { Entry, HardState } from "../../src/raft/messages.ts";
import {
  CommitQueue,
  MAX_PENDING_SAVES,
  MAX_WAITING_SAVES,
} from "../../src/storage/commit_queue.ts";
import { SaveQueueFullError } from "../../src/storage/errors.ts";
import { MAX_MEMORY_PENDING_SAVES, MemoryStorage } from "../../src/storage/memory_storage.ts";
import { openStorage } from "../../src/storage/raft_storage.ts";
import { padIndex } from "../../src/storage/segment_files.ts";
import { WalWriter } from "../../src/storage/wal_writer.ts";
import { dataFor, makeEntries, prng, withTempDir } from "./helpers.ts";

function isFailure(message: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isAssertionFailure(e), `expected an AssertionFailure, got ${String(e)}`);
    assert.match((e as Error).message, message);
    return true;
  };
}

Deno.test("save: the term never goes back and a term has one vote", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save({ term: 3, vote: "n1", commit: 0 }, makeEntries(1, 3, 3));
    await assert.rejects(
      s.save({ term: 2, vote: null, commit: 0 }, []),
      isFailure(/term never goes back/),
    );
    await assert.rejects(
      s.save({ term: 3, vote: "n2", commit: 0 }, []),
      isFailure(/one vote per term/),
    );
    await assert.rejects(s.save(null, makeEntries(5, 5, 3)), isFailure(/gap/));
    // Nothing refused was staged: the log continues where it was.
    await s.save({ term: 4, vote: "n2", commit: 3 }, makeEntries(4, 4, 4));
    assert.equal(s.lastIndex(), 4);
    await s.close();
  });
});

Deno.test("reads, compaction and installs check their ranges", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save({ term: 1, vote: null, commit: 0 }, makeEntries(1, 5, 1));
    assert.throws(() => s.entries(0, 3, 1 << 20), isFailure(/below the first index/));
    assert.throws(() => s.entries(2, 9, 1 << 20), isFailure(/beyond the last index/));
    assert.throws(() => s.entries(4, 3, 1 << 20), isFailure(/ordered/));
    assert.throws(() => s.compact(3), isFailure(/compact beyond the snapshot/));
    const meta = { index: 0, term: 0, conf: { voters: ["n1"], learners: [] } };
    assert.throws(() => s.applySnapshot(meta), isFailure(/newer than ours/));
    await s.close();
  });
});

Deno.test("the WAL writer and segment names refuse impossible inputs", () => {
  assert.throws(() => padIndex(-1), isFailure(/non-negative/));
  assert.throws(() => padIndex(1.5), isFailure(/safe integer/));
  assert.throws(() => new WalWriter("/nonexistent", false, 0, null, []), isFailure(/some bytes/));
  assert.throws(
    () => new WalWriter("/nonexistent", false, 1024, null, [5, 3]),
    isFailure(/names increase/),
  );
  const w = new WalWriter("/nonexistent", false, 1024, null, []);
  assert.throws(() => w.stage(new Uint8Array(0), 1, 1, () => []), isFailure(/has bytes/));
  assert.throws(() => w.stage(new Uint8Array(1), 0, 1, () => []), isFailure(/index 1/));
});

Deno.test(`the commit queue refuses past ${MAX_WAITING_SAVES} waiting and loses nothing`, async () => {
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const committed: number[] = [];
  const q = new CommitQueue<number>(async (saves) => {
    await gate;
    committed.push(...saves);
  });
  const limit = MAX_PENDING_SAVES + MAX_WAITING_SAVES;
  const accepted: Promise<void>[] = [];
  for (let i = 0; i < limit; i++) accepted.push(q.save(i));
  assert.ok(q.full());
  assert.throws(() => q.checkRoom(), SaveQueueFullError);
  const refused = q.save(limit);
  // Issued in the same turn: once the writer takes a group, waiters move up and room returns.
  const refusedOp = q.exclusive(() => Promise.resolve());
  await assert.rejects(refused, (e: unknown) => {
    assert.ok(e instanceof SaveQueueFullError);
    assert.equal(e.code, "too_many_requests", "the node answers 429 if it reaches HTTP");
    return true;
  });
  await assert.rejects(refusedOp, SaveQueueFullError);
  release();
  await Promise.all(accepted);
  assert.equal(committed.length, limit, "every accepted save was committed");
  assert.deepEqual(committed.slice(0, 3), [0, 1, 2], "in call order");
  assert.ok(!committed.includes(limit), "the refused save was never written");
  assert.equal(q.failure(), null, "a refusal does not stop the queue");
  await q.save(limit);
  assert.equal(committed.at(-1), limit);
});

Deno.test("storage refuses a save past the queue limit without moving its log end", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    const limit = MAX_PENDING_SAVES + MAX_WAITING_SAVES;
    const saves: Promise<void>[] = [];
    // Saves issued in one turn all queue (the writer starts on the next microtask).
    for (let i = 1; i <= limit; i++) saves.push(s.save(null, makeEntries(i, i, 1, 8)));
    await assert.rejects(s.save(null, makeEntries(limit + 1, limit + 1, 1, 8)), SaveQueueFullError);
    await Promise.all(saves);
    assert.equal(s.lastIndex(), limit, "every accepted save is durable");
    await s.save(null, makeEntries(limit + 1, limit + 1, 1, 8));
    assert.equal(s.lastIndex(), limit + 1, "the refused index is free for the next save");
    await s.close();
  });
});

Deno.test("the in-memory twin refuses past the same capacity, the same way", async () => {
  assert.equal(MAX_MEMORY_PENDING_SAVES, MAX_PENDING_SAVES + MAX_WAITING_SAVES);
  const s = new MemoryStorage({ manualSync: true });
  const held: Promise<void>[] = [];
  for (let i = 1; i <= MAX_MEMORY_PENDING_SAVES; i++) {
    held.push(s.save(null, makeEntries(i, i, 1, 1)));
  }
  const next = makeEntries(MAX_MEMORY_PENDING_SAVES + 1, MAX_MEMORY_PENDING_SAVES + 1, 1, 1);
  await assert.rejects(s.save(null, next), SaveQueueFullError);
  s.sync();
  await Promise.all(held);
  assert.equal(s.lastIndex(), MAX_MEMORY_PENDING_SAVES);
  const after = s.save(null, next);
  s.sync();
  await after;
  assert.equal(s.lastIndex(), MAX_MEMORY_PENDING_SAVES + 1);
});

const SEED = Number(Deno.env.get("STORAGE_SEED") ?? 20261206);

Deno.test(`saved batches read back equal after recovery (seed ${SEED})`, async () => {
  const random = prng(SEED);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  await withTempDir(async (dir) => {
    const options = { fsync: "never" as const, segmentBytes: 4096 };
    let s = await openStorage(dir, options);
    const expected = new Map<number, Entry>();
    let last = 0;
    let term = 1;
    let hs: HardState = { term, vote: "n1", commit: 0 };
    for (let round = 0; round < 120; round++) {
      // Sometimes a new leader overwrites an uncommitted suffix.
      const overwrite = last > hs.commit && random() < 0.2;
      if (overwrite) term++;
      const first = overwrite ? int(hs.commit + 1, last) : last + 1;
      const batch = makeEntries(first, first + int(0, 6), term, int(1, 300));
      for (let i = first; i <= last; i++) expected.delete(i);
      for (const e of batch) expected.set(e.index, e);
      last = first + batch.length - 1;
      hs = { term, vote: overwrite ? "n2" : hs.vote, commit: Math.max(hs.commit, int(0, last)) };
      await s.save(hs, batch);
      if (random() < 0.1) {
        await s.close();
        s = await openStorage(dir, options);
      }
    }
    await s.close();
    s = await openStorage(dir, options);
    assert.deepEqual(s.initialState().hardState, hs, `hard state (seed ${SEED})`);
    assert.equal(s.lastIndex(), last, `last index (seed ${SEED})`);
    for (let i = 1; i <= last; i++) {
      const [got] = s.entries(i, i + 1, 1 << 20);
      const want = expected.get(i) as Entry;
      assert.equal(got?.term, want.term, `term of ${i} (seed ${SEED})`);
      assert.deepEqual(Uint8Array.from(got?.data ?? []), dataFor(i, want.term, want.data.length));
    }
    await s.close();
  });
});

Deno.test("AssertionFailure is what src/assert.ts exports for every server module", () => {
  assert.equal(new AssertionFailure("x").name, "AssertionFailure");
});
