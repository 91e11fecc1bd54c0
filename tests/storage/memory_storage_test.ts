import assert from "node:assert/strict";
import { FatalStorageError } from "../../src/storage/errors.ts";
import { MemoryStorage } from "../../src/storage/memory_storage.ts";
import { makeEntries } from "./helpers.ts";

const conf = { voters: ["n1"], learners: [] };

Deno.test("memory twin: a crash keeps synced saves and loses unsynced ones", async () => {
  const s = new MemoryStorage({ conf, manualSync: true });
  const a = s.save({ term: 1, vote: "n1", commit: 0 }, makeEntries(1, 5, 1));
  assert.equal(s.lastIndex(), 0, "nothing is visible before it is durable");
  s.sync();
  await a;
  assert.equal(s.lastIndex(), 5);
  const lost = s.save({ term: 2, vote: null, commit: 5 }, makeEntries(6, 8, 2));
  const r = s.crash();
  await assert.rejects(lost, /crashed/);
  assert.equal(r.lastIndex(), 5);
  assert.deepEqual(r.initialState(), { hardState: { term: 1, vote: "n1", commit: 0 }, conf });
});

Deno.test("memory twin: kept and torn unsynced writes survive as a WAL would leave them", () => {
  const s = new MemoryStorage({ manualSync: true });
  s.save({ term: 1, vote: "n1", commit: 2 }, makeEntries(1, 2, 1)).catch(() => {});
  s.save({ term: 2, vote: "n2", commit: 3 }, makeEntries(3, 4, 2)).catch(() => {});
  s.save({ term: 3, vote: "n3", commit: 5 }, makeEntries(5, 6, 3)).catch(() => {});
  const r = s.crash({ keep: 1, tornLast: true });
  assert.equal(r.lastIndex(), 4, "the torn save's entries made it");
  assert.deepEqual(r.initialState().hardState, { term: 1, vote: "n1", commit: 2 });
  assert.equal(r.term(4), 2);
});

Deno.test("memory twin: an injected fsync failure is fatal for every later write", async () => {
  const s = new MemoryStorage({ manualSync: true });
  const p = s.save(null, makeEntries(1, 1, 1));
  s.failNextSync();
  s.sync();
  await assert.rejects(p, FatalStorageError);
  await assert.rejects(() => s.save(null, makeEntries(1, 1, 1)), FatalStorageError);
});

Deno.test("memory twin: overwrite, snapshots and compaction follow the file storage", async () => {
  const s = new MemoryStorage({ trailingEntries: 10 });
  await s.save(null, makeEntries(1, 100, 1));
  await s.save(null, makeEntries(51, 60, 2));
  assert.equal(s.lastIndex(), 60);
  assert.equal(s.term(55), 2);
  await s.writeSnapshot({ index: 40, term: 1, conf }, (async function* () {})());
  assert.equal(s.snapshotMeta().index, 40);
  await s.compact(40);
  assert.equal(s.firstIndex(), 30);
  assert.equal(s.entries(30, 61, 1 << 20).length, 31);
  await s.writeSnapshot({ index: 90, term: 5, conf }, (async function* () {})());
  assert.equal(s.snapshotMeta().index, 40, "received snapshots wait for applySnapshot");
  await s.applySnapshot({ index: 90, term: 5, conf });
  assert.equal(s.firstIndex(), 91);
  assert.equal(s.lastIndex(), 90);
  const r = s.crash();
  assert.equal(r.snapshotMeta().index, 90);
  assert.equal(r.lastIndex(), 90);
});
