import assert from "node:assert/strict";
import { RaftkvError } from "../../src/errors.ts";
import {
  KvStore,
  MAX_LIST_PAGE_BYTES,
  MAX_STORE_LIST_LIMIT,
  MAX_SUBSCRIBERS,
} from "../../src/kv/store.ts";
import type { WatchEvent } from "../../src/kv/types.ts";
import { bytes, delCmd, Driver, dump, entry, putCmd, T0, text } from "./helpers.ts";

Deno.test("put creates, then updates: revisions and versions follow etcd", () => {
  const d = new Driver();
  assert.deepEqual(d.run(putCmd("a", "1")), {
    ok: true,
    value: { key: "a", createRevision: 1, modRevision: 1, version: 1 },
  });
  assert.deepEqual(d.run(putCmd("b", "x")).ok, true);
  assert.deepEqual(d.run(putCmd("a", "2")), {
    ok: true,
    value: { key: "a", createRevision: 1, modRevision: 3, version: 2 },
  });
  const a = d.store.get("a");
  assert.equal(text(a), "2");
  assert.deepEqual({ ...a, value: null }, {
    key: "a",
    value: null,
    createRevision: 1,
    modRevision: 3,
    version: 2,
    expiresAtMs: null,
    lease: null,
  });
  assert.equal(d.store.revision, 3);
  assert.equal(d.store.appliedIndex, 3);
  assert.equal(d.store.size, 2);
  assert.ok(d.store.approximateBytes > 0);
});

Deno.test("delete removes a key under a new revision; a later put recreates it at version 1", () => {
  const d = new Driver();
  d.run(putCmd("a", "1"));
  d.run(putCmd("a", "2"));
  assert.deepEqual(d.run(delCmd("a")), {
    ok: true,
    value: { key: "a", deleted: true, revision: 3 },
  });
  assert.equal(d.store.get("a"), null);
  assert.equal(d.store.size, 0);
  assert.deepEqual(d.run(putCmd("a", "3")), {
    ok: true,
    value: { key: "a", createRevision: 4, modRevision: 4, version: 1 },
  });
});

Deno.test("deleting a missing key succeeds with deleted: false and changes no revision", () => {
  const d = new Driver();
  d.run(putCmd("a", "1"));
  assert.deepEqual(d.run(delCmd("zzz")), {
    ok: true,
    value: { key: "zzz", deleted: false, revision: 1 },
  });
  assert.equal(d.store.revision, 1);
  assert.equal(d.store.appliedIndex, 2);
});

Deno.test("an empty entry is a leader no-op that only advances the applied index", () => {
  const d = new Driver();
  assert.deepEqual(d.store.apply(5, new Uint8Array()), { ok: true, value: null });
  assert.equal(d.store.appliedIndex, 5);
  assert.equal(d.store.revision, 0);
  assert.throws(() => d.store.apply(5, new Uint8Array())); // out of order is a driver bug
});

Deno.test("compare-and-set wins on the current modRevision and loses on a stale one", () => {
  const d = new Driver();
  d.run(putCmd("k", "1"));
  d.run(putCmd("k", "2"));
  const lost = d.run(putCmd("k", "x", { ifModRevision: 1 }));
  assert.equal(lost.ok, false);
  assert.ok(!lost.ok);
  assert.equal(lost.code, "precondition_failed");
  assert.deepEqual(lost.current, { key: "k", createRevision: 1, modRevision: 2, version: 2 });
  assert.equal(d.store.revision, 2, "a lost compare changes nothing");
  assert.deepEqual(d.run(putCmd("k", "3", { ifModRevision: 2 })), {
    ok: true,
    value: { key: "k", createRevision: 1, modRevision: 3, version: 3 },
  });
  const missing = d.run(putCmd("nope", "x", { ifModRevision: 3 }));
  assert.ok(!missing.ok);
  assert.equal(missing.current, null);
});

Deno.test("ifModRevision 0 and createOnly both mean the key must not exist", () => {
  const d = new Driver();
  assert.ok(d.run(putCmd("k", "1", { ifModRevision: 0 })).ok);
  const again = d.run(putCmd("k", "2", { ifModRevision: 0 }));
  assert.ok(!again.ok && again.code === "precondition_failed");
  const created = d.run(putCmd("c", "1", { createOnly: true }));
  assert.ok(created.ok);
  const twice = d.run(putCmd("c", "2", { createOnly: true }));
  assert.ok(!twice.ok);
  assert.deepEqual(twice.current, { key: "c", createRevision: 2, modRevision: 2, version: 1 });
  assert.equal(text(d.store.get("c")), "1");
  assert.equal(d.store.revision, 2);
});

Deno.test("delete with ifModRevision only deletes the expected revision", () => {
  const d = new Driver();
  d.run(putCmd("k", "1"));
  d.run(putCmd("k", "2"));
  const lost = d.run(delCmd("k", 1));
  assert.ok(!lost.ok);
  assert.equal(lost.current?.modRevision, 2);
  assert.equal(text(d.store.get("k")), "2");
  assert.deepEqual(d.run(delCmd("k", 2)), {
    ok: true,
    value: { key: "k", deleted: true, revision: 3 },
  });
  const gone = d.run(delCmd("k", 2));
  assert.ok(!gone.ok && gone.current === null);
});

Deno.test("deletePrefix removes exactly the keys under the prefix in one revision", () => {
  const d = new Driver();
  for (const k of ["a", "ab", "abc", "abd", "ac", "b"]) d.run(putCmd(k, k));
  assert.deepEqual(d.run({ op: "deletePrefix", prefix: "ab" }), {
    ok: true,
    value: { deleted: 3, revision: 7 },
  });
  assert.deepEqual(dump(d.store).map((kv) => kv.key), ["a", "ac", "b"]);
  assert.deepEqual(d.run({ op: "deletePrefix", prefix: "zz" }), {
    ok: true,
    value: { deleted: 0, revision: 7 },
  });
  const events = d.store.eventsSince(7, "");
  assert.deepEqual(events.map((e) => [e.type, e.key, e.revision]), [
    ["delete", "ab", 7],
    ["delete", "abc", 7],
    ["delete", "abd", 7],
  ]);
});

/** Every page of keys under `prefix`, following `more` with `after` = the last key. */
function pagesOf(store: KvStore, prefix: string, limit: number): string[][] {
  const pages: string[][] = [];
  let after: string | null = null;
  for (;;) {
    const page = store.list(prefix, after, limit);
    pages.push(page.items.map((kv) => kv.key));
    if (!page.more) return pages;
    after = page.items.at(-1)?.key ?? null;
  }
}

Deno.test("list returns keys under a prefix in order and paginates with after/more", () => {
  const d = new Driver();
  const keys = ["p/3", "p/1", "q", "p/2", "p", "o", "p/10", "p/é", "p/😀"];
  for (const k of keys) d.run(putCmd(k, k));
  const all = d.store.list("p/", null, 100);
  assert.deepEqual(all.items.map((kv) => kv.key), ["p/1", "p/10", "p/2", "p/3", "p/é", "p/😀"]);
  assert.equal(all.more, false);
  assert.deepEqual(pagesOf(d.store, "p/", 2), [["p/1", "p/10"], ["p/2", "p/3"], ["p/é", "p/😀"]]);
  assert.deepEqual(d.store.list("p/", "a", 10).items.length, 6, "after before the prefix");
  assert.deepEqual(d.store.list("p/", "z", 10), { items: [], more: false });
  assert.deepEqual(d.store.list("", null, 3).items.map((kv) => kv.key), ["o", "p", "p/1"]);
  assert.throws(() => d.store.list("", null, 0), RaftkvError);
  assert.throws(() => d.store.list("", null, MAX_STORE_LIST_LIMIT + 1), RaftkvError);
});

Deno.test("TTL keys stay readable until an expire command at leader time removes them", () => {
  const d = new Driver();
  d.run(putCmd("t1", "x", { ttlMs: 1000 }), { nowMs: T0 });
  d.run(putCmd("t2", "y", { ttlMs: 5000 }), { nowMs: T0 + 10 });
  d.run(putCmd("keep", "z"), { nowMs: T0 + 20 });
  assert.equal(d.store.get("t1")?.expiresAtMs, T0 + 1000);
  assert.equal(d.store.nextExpiryMs(), T0 + 1000);
  // Time passing in a later entry does not expire anything by itself.
  d.run(putCmd("other", "o"), { nowMs: T0 + 2000 });
  assert.notEqual(d.store.get("t1"), null);
  assert.deepEqual(d.run({ op: "expire" }, { nowMs: T0 + 2000 }), {
    ok: true,
    value: { deleted: 1, revision: 5 },
  });
  assert.equal(d.store.get("t1"), null);
  assert.notEqual(d.store.get("t2"), null);
  assert.equal(d.store.nextExpiryMs(), T0 + 5010);
  // The clock is monotonic: an older leader stamp does not move it back.
  d.run({ op: "expire" }, { nowMs: T0 });
  assert.notEqual(d.store.get("t2"), null);
  assert.equal(d.store.clockMs, T0 + 2000);
  d.run({ op: "expire" }, { nowMs: T0 + 5010 });
  assert.equal(d.store.get("t2"), null);
  assert.equal(d.store.nextExpiryMs(), null);
  assert.deepEqual(dump(d.store).map((kv) => kv.key), ["keep", "other"]);
});

Deno.test("a put without ttl clears an earlier ttl; a put with ttl restarts it", () => {
  const d = new Driver();
  d.run(putCmd("k", "1", { ttlMs: 100 }), { nowMs: T0 });
  d.run(putCmd("k", "2"), { nowMs: T0 + 50 });
  assert.equal(d.store.nextExpiryMs(), null);
  d.run(putCmd("k", "3", { ttlMs: 100 }), { nowMs: T0 + 60 });
  assert.equal(d.store.nextExpiryMs(), T0 + 160);
  d.run({ op: "expire" }, { nowMs: T0 + 159 });
  assert.notEqual(d.store.get("k"), null);
  d.run({ op: "expire" }, { nowMs: T0 + 160 });
  assert.equal(d.store.get("k"), null);
});

Deno.test("TTL expiry is identical on two stores fed the same entries", () => {
  const a = new Driver();
  const b = new Driver();
  const feed = (command: Parameters<Driver["run"]>[0], nowMs: number) => {
    const ra = a.run(command, { nowMs });
    const rb = b.run(command, { nowMs });
    assert.deepEqual(ra, rb);
  };
  for (let i = 0; i < 50; i++) feed(putCmd(`k${i}`, "v", { ttlMs: 100 + i * 10 }), T0 + i);
  feed({ op: "expire" }, T0 + 300);
  feed({ op: "expire" }, T0 + 450);
  assert.deepEqual(dump(a.store), dump(b.store));
  assert.equal(a.store.revision, b.store.revision);
  assert.deepEqual(a.store.eventsSince(1, ""), b.store.eventsSince(1, ""));
  assert.ok(a.store.size > 0 && a.store.size < 50);
});

Deno.test("a retried idempotency key returns the original result without applying again", () => {
  const d = new Driver();
  const first = d.run(putCmd("k", "1"), { idempotencyKey: "req-1" });
  d.run(putCmd("k", "2"));
  const retry = d.run(putCmd("k", "1"), { idempotencyKey: "req-1" });
  assert.deepEqual(retry, first);
  assert.equal(text(d.store.get("k")), "2");
  assert.equal(d.store.revision, 2);
  // A lost compare is remembered too: the retry sees the same refusal.
  const lost = d.run(putCmd("k", "x", { ifModRevision: 99 }), { idempotencyKey: "req-2" });
  d.run(putCmd("k", "3"));
  assert.deepEqual(
    d.run(putCmd("k", "x", { ifModRevision: 4 }), { idempotencyKey: "req-2" }),
    lost,
  );
});

Deno.test("the dedup table is bounded: the oldest key is forgotten first", () => {
  const d = new Driver(new KvStore({ dedupEntries: 3 }));
  for (let i = 1; i <= 4; i++) d.run(putCmd("k", `${i}`), { idempotencyKey: `r${i}` });
  assert.equal(d.store.dedupSize, 3);
  const rev = d.store.revision;
  d.run(putCmd("k", "4"), { idempotencyKey: "r4" });
  assert.equal(d.store.revision, rev, "r4 is remembered");
  d.run(putCmd("k", "1"), { idempotencyKey: "r1" });
  assert.equal(d.store.revision, rev + 1, "r1 was evicted, so it applies again");
});

Deno.test("dedup entries expire after dedupTtlMs of leader time", () => {
  const d = new Driver(new KvStore({ dedupTtlMs: 1000 }));
  d.run(putCmd("k", "1"), { idempotencyKey: "r", nowMs: T0 });
  d.run(putCmd("k", "1"), { idempotencyKey: "r", nowMs: T0 + 1000 });
  assert.equal(d.store.revision, 1, "still remembered at exactly the TTL");
  d.run(putCmd("k", "1"), { idempotencyKey: "r", nowMs: T0 + 1001 });
  assert.equal(d.store.revision, 2, "forgotten after the TTL");
});

Deno.test("malformed or oversized entries are refused deterministically without changes", () => {
  const small = new Driver(new KvStore({ maxValueBytes: 4 }));
  const junk = [new Uint8Array([0xff, 0x00]), new Uint8Array([1, 2, 3])];
  for (const data of junk) {
    const result = small.raw(data);
    assert.ok(!result.ok && result.code === "bad_request", JSON.stringify(result));
  }
  const big = small.run(putCmd("k", "12345"));
  assert.ok(!big.ok && big.code === "too_large");
  assert.equal(small.store.revision, 0);
  assert.equal(small.store.appliedIndex, 3);
  assert.ok(small.run(putCmd("k", "1234")).ok);
});

Deno.test("eventsSince serves the ring by revision and prefix, and reports compaction", () => {
  const d = new Driver(new KvStore({ watchHistory: 5 }));
  assert.deepEqual(d.store.eventsSince(0, ""), []);
  for (let i = 1; i <= 4; i++) d.run(putCmd(i % 2 ? `a${i}` : `b${i}`, `${i}`));
  d.run(delCmd("a1"));
  const all = d.store.eventsSince(1, "");
  assert.deepEqual(all.map((e) => [e.type, e.key, e.revision]), [
    ["put", "a1", 1],
    ["put", "b2", 2],
    ["put", "a3", 3],
    ["put", "b4", 4],
    ["delete", "a1", 5],
  ]);
  assert.equal(new TextDecoder().decode(all[0]?.value ?? undefined), "1");
  assert.deepEqual([all[4]?.value, all[4]?.version, all[4]?.createRevision], [null, 0, 0]);
  assert.deepEqual(d.store.eventsSince(3, "a").map((e) => e.revision), [3, 5]);
  assert.deepEqual(d.store.eventsSince(6, ""), [], "the future is empty");
  d.run(putCmd("c", "6"));
  assert.equal(d.store.compactedRevision, 1);
  assert.throws(
    () => d.store.eventsSince(1, ""),
    (e) => e instanceof RaftkvError && e.code === "revision_compacted",
  );
  assert.equal(d.store.eventsSince(2, "").length, 5);
});

Deno.test("one change with more events than the watch ring holds compacts its revision", () => {
  // A prefix delete of 8 keys into a ring of 5: its revision (9) cannot be served whole.
  const d = new Driver(new KvStore({ watchHistory: 5 }));
  for (let i = 1; i <= 8; i++) d.run(putCmd(`p/${i}`, `${i}`));
  assert.deepEqual(d.run({ op: "deletePrefix", prefix: "p/" }), {
    ok: true,
    value: { deleted: 8, revision: 9 },
  });
  assert.equal(d.store.compactedRevision, 9);
  assert.throws(
    () => d.store.eventsSince(9, ""),
    (e) => e instanceof RaftkvError && e.code === "revision_compacted",
  );
  assert.deepEqual(d.store.eventsSince(10, ""), []);
  // The ring goes on: later changes are served as before.
  d.run(putCmd("q", "x"));
  assert.deepEqual(d.store.eventsSince(10, "").map((e) => [e.key, e.revision]), [["q", 10]]);
});

Deno.test("the watch ring is also bounded in bytes", () => {
  const d = new Driver(new KvStore({ watchHistory: 100, watchHistoryBytes: 10_000 }));
  for (let i = 0; i < 10; i++) d.run(putCmd(`k${i}`, new Uint8Array(3000)));
  assert.ok(d.store.compactedRevision >= 7);
  assert.ok(d.store.eventsSince(d.store.compactedRevision + 1, "").length <= 3);
});

Deno.test("subscribers get each batch's events; a throwing listener does not break apply", () => {
  const d = new Driver();
  const seen: WatchEvent[][] = [];
  d.store.subscribe(() => {
    throw new Error("broken watcher");
  });
  const stop = d.store.subscribe((events) => seen.push([...events]));
  d.run(putCmd("a", "1"));
  const results = d.store.applyBatch([
    { index: 10, data: new Uint8Array() },
    { index: 11, data: encodePut("b") },
    { index: 12, data: encodePut("c") },
  ]);
  assert.equal(results.length, 3);
  assert.deepEqual(seen.map((batch) => batch.map((e) => e.key)), [["a"], ["b", "c"]]);
  assert.equal(d.store.listenerErrors, 2);
  stop();
  d.store.apply(13, encodePut("d"));
  assert.equal(seen.length, 2);
  assert.equal(d.store.get("d")?.modRevision, 4);
});

Deno.test("the number of subscribers is bounded", () => {
  const store = new KvStore({ maxSubscribers: 2 });
  const stops = [store.subscribe(() => {}), store.subscribe(() => {})];
  assert.throws(
    () => store.subscribe(() => {}),
    (e) => e instanceof RaftkvError && e.code === "too_many_requests",
  );
  stops[0]?.();
  store.subscribe(() => {});
  assert.equal(MAX_SUBSCRIBERS, 1024);
});

function encodePut(key: string): Uint8Array {
  return entry(putCmd(key, bytes(key)));
}

Deno.test("a list page ends before MAX_LIST_PAGE_BYTES of values, but holds at least one key", () => {
  const d = new Driver();
  const big = new Uint8Array(Math.floor(MAX_LIST_PAGE_BYTES * 0.6));
  const huge = new Uint8Array(MAX_LIST_PAGE_BYTES); // alone over the bound with its key
  for (const k of ["b/1", "b/2", "b/3"]) d.run(putCmd(k, big));
  d.run(putCmd("b/4", huge));
  d.run(putCmd("b/5", "small"));
  assert.deepEqual(pagesOf(d.store, "b/", 100), [["b/1"], ["b/2"], ["b/3"], ["b/4"], ["b/5"]]);
  // Small values still fill a page up to the key limit.
  for (let i = 0; i < 50; i++) d.run(putCmd(`s/${String(i).padStart(2, "0")}`, "v"));
  assert.equal(d.store.list("s/", null, 40).items.length, 40);
});
