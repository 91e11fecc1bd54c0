import assert from "node:assert/strict";
import { encode } from "cbor-x";
import { join } from "node:path";
import type { SnapshotMeta } from "../../src/raft/messages.ts";
import {
  bootstrapStorage,
  FatalStorageError,
  MAX_PENDING_SAVES,
  openStorage,
  type RaftStorage,
} from "../../src/storage/raft_storage.ts";
import { frameRecord, RecordType } from "../../src/storage/record.ts";
import { concat } from "../../src/storage/wal_writer.ts";
import { dataFor, makeEntries, segmentFiles, withTempDir } from "./helpers.ts";

const conf = { voters: ["n1", "n2", "n3"], learners: [] };

async function* chunksOf(total: number, chunk: number): AsyncIterable<Uint8Array> {
  for (let sent = 0; sent < total; sent += chunk) {
    const n = Math.min(chunk, total - sent);
    yield Uint8Array.from({ length: n }, (_, i) => (sent + i) & 0xff);
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

function assertEntriesIntact(s: RaftStorage, lo: number, hi: number, term: (i: number) => number) {
  let i = lo;
  while (i <= hi) {
    const got = s.entries(i, hi + 1, 1 << 20);
    assert(got.length > 0);
    for (const e of got) {
      assert.equal(e.index, i);
      assert.equal(e.term, term(i), `term of ${i}`);
      assert.deepEqual(Uint8Array.from(e.data), dataFor(i, e.term), `data of ${i}`);
      i++;
    }
  }
}

Deno.test("hard state and entries survive a restart", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir);
    await s.save({ term: 3, vote: "n2", commit: 0 }, []);
    await s.save({ term: 3, vote: "n2", commit: 7 }, makeEntries(1, 10, 3));
    await s.close();
    const r = await openStorage(dir);
    assert.deepEqual(r.initialState().hardState, { term: 3, vote: "n2", commit: 7 });
    assert.equal(r.firstIndex(), 1);
    assert.equal(r.lastIndex(), 10);
    assert.equal(r.term(0), 0);
    assert.equal(r.term(11), undefined);
    assertEntriesIntact(r, 1, 10, () => 3);
    await r.close();
  });
});

Deno.test("an overwritten suffix stays overwritten after a restart", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { segmentBytes: 2048 });
    await s.save({ term: 1, vote: "n1", commit: 0 }, makeEntries(1, 50, 1));
    await s.save({ term: 2, vote: "n2", commit: 10 }, makeEntries(21, 30, 2));
    assert.equal(s.lastIndex(), 30);
    assertEntriesIntact(s, 1, 30, (i) => i <= 20 ? 1 : 2);
    await s.close();
    const r = await openStorage(dir, { segmentBytes: 2048 });
    assert.equal(r.lastIndex(), 30);
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: "n2", commit: 10 });
    assertEntriesIntact(r, 1, 30, (i) => i <= 20 ? 1 : 2);
    await r.close();
  });
});

Deno.test("concurrent saves are coalesced into fewer group commits", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir);
    const saves = [];
    for (let i = 1; i <= 100; i++) {
      saves.push(s.save({ term: 1, vote: null, commit: i - 1 }, makeEntries(i, i, 1)));
    }
    await Promise.all(saves);
    const st = s.stats();
    assert.equal(st.saves, 100);
    assert.equal(st.batches, 100);
    assert(st.groupCommits < 10, `expected coalescing, got ${st.groupCommits} group commits`);
    assert.equal(st.fsyncLatencyMs.length, st.groupCommits);
    assert.equal(s.lastIndex(), 100);
    await s.close();
  });
});

Deno.test("old entries are read through a byte-bounded LRU that evicts", async () => {
  await withTempDir(async (dir) => {
    const opts = { tailEntries: 10, cacheBytes: 8 * 1024, fsync: "never" } as const;
    const s = await openStorage(dir, opts);
    for (let i = 1; i <= 1000; i += 10) await s.save(null, makeEntries(i, i + 9, 1));
    assertEntriesIntact(s, 1, 1000, () => 1); // every batch but the tail's is cold
    const st = s.stats();
    assert(st.cacheMisses >= 99, `misses ${st.cacheMisses}`);
    assert(st.cacheBytes <= 8 * 1024, `cache holds ${st.cacheBytes} bytes`);
    assert(st.cacheBatches < 99, "the cache must have evicted batches");
    // A recently read batch is a hit; the first ones were evicted long ago.
    s.entries(991 - 10, 991, 1 << 20);
    assert.equal(s.stats().cacheHits, st.cacheHits + 1);
    s.entries(1, 2, 1 << 20);
    assert.equal(s.stats().cacheMisses, st.cacheMisses + 1);
    // maxBytes stops a read early but always returns at least one entry.
    assert.equal(s.entries(1, 100, 250).length, 2);
    assert.equal(s.entries(1, 100, 1).length, 1);
    await s.close();
  });
});

Deno.test("a local snapshot, compaction and restart keep the trailing entries readable", async () => {
  await withTempDir(async (dir) => {
    const opts = { segmentBytes: 4096, trailingEntries: 100, fsync: "never" } as const;
    const s = await openStorage(dir, opts);
    for (let i = 1; i <= 1000; i += 20) {
      await s.save({ term: 2, vote: "n1", commit: i + 19 }, makeEntries(i, i + 19, 2));
    }
    const before = (await segmentFiles(dir)).length;
    const meta: SnapshotMeta = { index: 800, term: 2, conf };
    await s.writeSnapshot(meta, chunksOf(10_000, 3000));
    assert.equal(s.snapshotMeta().index, 800);
    await s.compact(800);
    const after = await segmentFiles(dir);
    assert(after.length < before, "whole segments below the cutoff are deleted");
    const first = s.firstIndex();
    assert(first > 1 && first <= 700, `firstIndex ${first} keeps the trailing entries`);
    assert.equal(s.term(first - 1), undefined);
    assertEntriesIntact(s, first, 1000, () => 2);
    await s.close();
    const r = await openStorage(dir, opts);
    assert.equal(r.firstIndex(), first);
    assert.equal(r.lastIndex(), 1000);
    assert.deepEqual(r.snapshotMeta(), meta);
    assert.deepEqual(r.initialState().conf, conf);
    assertEntriesIntact(r, first, 1000, () => 2);
    const snap = r.openSnapshot();
    assert(snap !== null);
    const got = await collect(snap.chunks());
    assert.deepEqual(
      Uint8Array.from(got.flatMap((c) => Array.from(c))),
      Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff),
    );
    await r.close();
  });
});

Deno.test("only the newest snapshots are kept", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save(null, makeEntries(1, 40, 1));
    for (const index of [10, 20, 30, 40]) {
      await s.writeSnapshot({ index, term: 1, conf }, chunksOf(100, 64));
    }
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".snap")) names.push(e.name);
    assert.equal(names.length, 2);
    assert.equal(s.openSnapshot()?.meta.index, 40);
    await s.close();
  });
});

Deno.test("an installed snapshot restarts the log after its index, durably", async () => {
  await withTempDir(async (dir) => {
    const opts = { segmentBytes: 2048, fsync: "always" } as const;
    const s = await openStorage(dir, opts);
    await s.save({ term: 1, vote: "n1", commit: 5 }, makeEntries(1, 100, 1));
    const meta: SnapshotMeta = { index: 500, term: 4, conf };
    await s.writeSnapshot(meta, chunksOf(5000, 1024));
    assert.equal(s.snapshotMeta().index, 0, "a received snapshot is not current before apply");
    await s.applySnapshot(meta);
    assert.equal(s.firstIndex(), 501);
    assert.equal(s.lastIndex(), 500);
    assert.equal(s.term(500), 4);
    assert.equal(s.term(50), undefined);
    assert.deepEqual(await segmentFiles(dir), ["00000000000000000501.wal"]);
    await s.save({ term: 4, vote: null, commit: 500 }, makeEntries(501, 510, 4));
    await s.close();
    const r = await openStorage(dir, opts);
    assert.deepEqual(r.snapshotMeta(), meta);
    assert.equal(r.firstIndex(), 501);
    assert.equal(r.lastIndex(), 510);
    assert.deepEqual(r.initialState().hardState, { term: 4, vote: null, commit: 500 });
    assertEntriesIntact(r, 501, 510, () => 4);
    await r.close();
  });
});

Deno.test("a received snapshot that was never applied is discarded at open", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    await s.save(null, makeEntries(1, 10, 1));
    await s.writeSnapshot({ index: 90, term: 3, conf }, chunksOf(10, 10));
    await s.close();
    const r = await openStorage(dir, { fsync: "never" });
    assert.equal(r.snapshotMeta().index, 0);
    assert.equal(r.lastIndex(), 10);
    assert.equal(r.openSnapshot(), null);
    await r.close();
  });
});

Deno.test("bootstrap seeds the membership and refuses a dir holding data", async () => {
  await withTempDir(async (dir) => {
    await bootstrapStorage(dir, conf);
    const s = await openStorage(dir);
    assert.deepEqual(s.initialState().conf, conf);
    assert.deepEqual(s.snapshotMeta(), { index: 0, term: 0, conf });
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    await s.save({ term: 1, vote: "n1", commit: 0 }, makeEntries(1, 1, 1));
    await s.close();
    await assert.rejects(() => bootstrapStorage(dir, conf), /already holds Raft data/);
  });
});

Deno.test("fsync policy is reported so the node can warn", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    assert.equal(s.stats().fsync, "never");
    await s.close();
  });
});

Deno.test("a failed write is fatal: the save and every later one reject with FatalStorageError", async () => {
  await withTempDir(async (base) => {
    const dir = `${base}/node`;
    const s = await openStorage(dir);
    await Deno.remove(dir, { recursive: true }); // the next segment cannot be created
    await assert.rejects(() => s.save(null, makeEntries(1, 1, 1)), FatalStorageError);
    await assert.rejects(() => s.save(null, makeEntries(1, 1, 1)), FatalStorageError);
    await s.close();
  });
});

Deno.test("each sequential save is exactly one group commit", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir);
    for (let i = 1; i <= 5; i++) {
      await s.save({ term: 1, vote: null, commit: 0 }, makeEntries(i, i, 1));
    }
    assert.equal(s.stats().groupCommits, 5);
    await s.close();
  });
});

Deno.test("a crash mid-install recovers to the installed snapshot from every intermediate state", async () => {
  const meta: SnapshotMeta = { index: 500, term: 4, conf };
  const marker = frameRecord(RecordType.SnapshotMarker, encode({ index: 500, term: 4 }));
  const hs = frameRecord(RecordType.HardState, encode({ term: 4, vote: null, commit: 500 }));
  const states: Record<string, (dir: string, segs: string[]) => Promise<void>> = {
    // Step 1 done: the marker is appended to the active segment, old segments remain.
    "marker appended": async (dir, segs) => {
      const last = join(dir, segs[segs.length - 1] as string);
      await Deno.writeFile(last, concat([await Deno.readFile(last), marker, hs]));
    },
    // Step 3 half done: the active segment was replaced by [marker, hs] in place.
    "active rewritten": async (dir, segs) => {
      for (const s of segs.slice(0, -1)) await Deno.remove(join(dir, s));
      await Deno.writeFile(join(dir, segs[segs.length - 1] as string), concat([marker, hs]));
    },
  };
  for (const [name, makeState] of Object.entries(states)) {
    await withTempDir(async (dir) => {
      const opts = { segmentBytes: 2048, fsync: "never" } as const;
      const s = await openStorage(dir, opts);
      for (let i = 1; i <= 100; i += 10) {
        await s.save({ term: 1, vote: "n1", commit: 5 }, makeEntries(i, i + 9, 1));
      }
      await s.writeSnapshot(meta, chunksOf(100, 100));
      await s.close();
      const segs = await segmentFiles(dir);
      assert(segs.length > 1);
      await makeState(dir, segs);
      const r = await openStorage(dir, opts);
      assert.deepEqual(r.snapshotMeta(), meta, name);
      assert.equal(r.firstIndex(), 501, name);
      assert.equal(r.lastIndex(), 500, name);
      assert.deepEqual(r.initialState().hardState, { term: 4, vote: null, commit: 500 }, name);
      await r.save(null, makeEntries(501, 600, 4));
      await r.close();
      const again = await openStorage(dir, opts);
      assert.equal(again.lastIndex(), 600, name);
      assertEntriesIntact(again, 501, 600, () => 4);
      await again.close();
    });
  }
});

Deno.test("saves beyond the pending-queue limit wait for room instead of failing", async () => {
  await withTempDir(async (dir) => {
    const s = await openStorage(dir, { fsync: "never" });
    const n = MAX_PENDING_SAVES + 500;
    const saves = [];
    for (let i = 1; i <= n; i++) saves.push(s.save(null, makeEntries(i, i, 1, 8)));
    await Promise.all(saves);
    assert.equal(s.lastIndex(), n);
    assert(s.stats().groupCommits >= 2);
    await s.close();
  });
});

Deno.test("compaction after an overwrite that crossed a segment boundary reopens cleanly", async () => {
  await withTempDir(async (dir) => {
    // Each 10-entry batch fills a segment: segments 1, 11, ..., 91.
    const opts = { segmentBytes: 1500, trailingEntries: 0, fsync: "never" } as const;
    const s = await openStorage(dir, opts);
    for (let i = 1; i <= 100; i += 10) await s.save(null, makeEntries(i, i + 9, 1));
    // A new term overwrites 85.. (which began in segment 81) from inside segment 91.
    await s.save({ term: 2, vote: "n2", commit: 0 }, makeEntries(85, 99, 2));
    await s.writeSnapshot({ index: 95, term: 2, conf }, chunksOf(10, 10));
    await s.compact(95);
    assert.equal(s.firstIndex(), 85);
    await s.close();
    const r = await openStorage(dir, opts);
    assert.equal(r.firstIndex(), 85);
    assert.equal(r.lastIndex(), 99);
    assertEntriesIntact(r, 85, 99, () => 2);
    await r.close();
  });
});
