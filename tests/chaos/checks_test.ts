import assert from "node:assert/strict";
import {
  checkAckedWrites,
  checkObservedValues,
  checkStoreRevision,
  MonotonicReads,
} from "./checks.ts";
import type { WriteRecord } from "./clients.ts";
import type { ReadAnswer } from "./kv_http.ts";

function first<T>(items: readonly T[]): T {
  assert(items.length > 0, "expected at least one violation");
  return items[0] as T;
}

function read(value: string | null, modRevision: number | null, store: number): ReadAnswer {
  return { kind: "read", value, modRevision, storeRevision: store };
}

function write(
  key: string,
  value: string | null,
  outcome: WriteRecord["outcome"],
  revision: number | null,
): WriteRecord {
  return { opId: 0, key, value, outcome, revision };
}

Deno.test("stale reads that move forward are monotonic", () => {
  const m = new MonotonicReads();
  assert.equal(m.observe("n6#1", "a", read("x", 3, 3)), null);
  assert.equal(m.observe("n6#1", "a", read("y", 5, 6)), null);
  assert.equal(m.observe("n6#1", "a", read(null, null, 7)), null);
  assert.equal(m.observe("n6#1", "a", read("z", 8, 8)), null);
});

Deno.test("a stale read of an older modRevision or store revision is a regression", () => {
  const m = new MonotonicReads();
  m.observe("w", "a", read("y", 5, 6));
  assert.match(m.observe("w", "a", read("x", 3, 6)) ?? "", /modRevision went back/);
  const s = new MonotonicReads();
  s.observe("w", "a", read("y", 5, 9));
  assert.match(s.observe("w", "b", read(null, null, 7)) ?? "", /store revision went back/);
});

Deno.test("a value seen deleted cannot come back at its old modRevision", () => {
  const m = new MonotonicReads();
  m.observe("w", "a", read(null, null, 10));
  assert.match(m.observe("w", "a", read("x", 4, 10)) ?? "", /reappeared/);
});

Deno.test("a new window (restarted learner) starts monotonicity over", () => {
  const m = new MonotonicReads();
  m.observe("n6#1", "a", read("y", 5, 9));
  assert.equal(m.observe("n6#2", "a", read("x", 3, 4)), null);
});

Deno.test("acknowledged writes pass when present or superseded", () => {
  const writes = [
    write("a", "a1", "acked", 2),
    write("a", "a2", "acked", 5),
    write("b", "b1", "acked", 3),
    write("b", null, "acked", 6),
    write("c", "c1", "acked", 4),
    write("c", null, "unknown", null),
  ];
  const finals = new Map([
    ["a", read("a2", 5, 7)],
    ["b", read(null, null, 7)],
    ["c", read(null, null, 7)],
  ]);
  assert.deepEqual(checkAckedWrites(writes, finals), []);
  assert.deepEqual(checkStoreRevision(writes, finals), []);
});

Deno.test("a lost acknowledged write is reported", () => {
  const writes = [write("a", "a1", "acked", 2), write("a", "a2", "acked", 5)];
  const older = checkAckedWrites(writes, new Map([["a", read("a1", 2, 7)]]));
  assert.equal(older.length, 1);
  assert.match(first(older), /a2.*is lost/);
  const gone = checkAckedWrites(
    [write("b", "b1", "acked", 3), write("b", null, "acked", 2)],
    new Map([["b", read(null, null, 7)]]),
  );
  assert.match(first(gone), /no later delete/);
  assert.equal(checkStoreRevision(writes, new Map([["a", read("a1", 2, 4)]])).length, 1);
});

Deno.test("reads of unwritten, 412-refused or 503-refused values are reported", () => {
  const writes = [
    write("a", "ok", "acked", 1),
    write("a", "lost-cas", "rejected", null),
    write("a", "refused", "refused503", null),
    write("a", "maybe", "unknown", null),
  ];
  const seen = (value: string) => [{ key: "a", value, source: "linearizable" as const }];
  assert.deepEqual(checkObservedValues(writes, [...seen("ok"), ...seen("maybe")]), []);
  assert.match(first(checkObservedValues(writes, seen("lost-cas"))), /412/);
  assert.match(first(checkObservedValues(writes, seen("refused"))), /503/);
  assert.match(first(checkObservedValues(writes, seen("ghost"))), /nobody wrote/);
});
