import assert from "node:assert/strict";
import { RaftkvError } from "../../src/errors.ts";
import { checkTxn, MAX_TXN_COMPARES, MAX_TXN_OPS } from "../../src/kv/txn.ts";
import { DEFAULT_KV_LIMITS } from "../../src/kv/limits.ts";
import type { TxnCompare, TxnOp, TxnRequest, TxnResult } from "../../src/kv/txn_types.ts";
import type { ApplyResult, KvCommand, WatchEvent } from "../../src/kv/types.ts";
import { Encoder } from "cbor-x";
import { bytes, Driver, entry, putCmd, T0, text } from "./helpers.ts";

const txn = (t: Partial<TxnRequest>): KvCommand => ({
  op: "txn",
  txn: { compare: t.compare ?? [], success: t.success ?? [], failure: t.failure ?? [] },
});
const putOp = (key: string, value: string, lease: string | null = null): TxnOp => ({
  op: "put",
  key,
  value: bytes(value),
  lease,
});

function txnResult(result: ApplyResult): TxnResult {
  assert.ok(
    result.ok && result.value !== null && "succeeded" in result.value,
    JSON.stringify(result),
  );
  return result.value;
}

Deno.test("a missing key compares as version, createRevision, modRevision 0 and lease null", () => {
  const d = new Driver();
  const holds = (compare: TxnCompare) =>
    txnResult(d.run(txn({ compare: [compare], success: [{ op: "get", key: "zz" }] }))).succeeded;
  for (const target of ["version", "createRevision", "modRevision"] as const) {
    assert.equal(holds({ key: "missing", target, op: "=", value: 0 }), true, target);
    assert.equal(holds({ key: "missing", target, op: "<", value: 1 }), true, target);
    assert.equal(holds({ key: "missing", target, op: ">", value: 0 }), false, target);
  }
  assert.equal(holds({ key: "missing", target: "lease", op: "=", value: null }), true);
  assert.equal(holds({ key: "missing", target: "lease", op: "!=", value: "1" }), true);
  // Its value compares false for every op, even !=.
  for (const op of ["=", "!=", "<", ">"] as const) {
    assert.equal(holds({ key: "missing", target: "value", op, value: bytes("x") }), false, op);
  }
});

Deno.test("compares on present keys: values in byte order, numbers, lease", () => {
  const d = new Driver();
  d.run(putCmd("a", "b"));
  d.run(putCmd("a", "b"));
  const holds = (compare: TxnCompare) => txnResult(d.run(txn({ compare: [compare] }))).succeeded;
  assert.equal(holds({ key: "a", target: "value", op: "=", value: bytes("b") }), true);
  assert.equal(holds({ key: "a", target: "value", op: ">", value: bytes("a") }), true);
  assert.equal(holds({ key: "a", target: "value", op: "<", value: bytes("ba") }), true);
  assert.equal(holds({ key: "a", target: "value", op: "!=", value: bytes("b") }), false);
  assert.equal(holds({ key: "a", target: "version", op: "=", value: 2 }), true);
  assert.equal(holds({ key: "a", target: "createRevision", op: "=", value: 1 }), true);
  assert.equal(holds({ key: "a", target: "modRevision", op: ">", value: 1 }), true);
  assert.equal(holds({ key: "a", target: "lease", op: "=", value: null }), true);
});

Deno.test("a transaction applies at one revision; watchers see each event at it", () => {
  const d = new Driver();
  d.run(putCmd("old/1", "x"));
  d.run(putCmd("old/2", "x"));
  d.run(putCmd("gone", "x"));
  const events: WatchEvent[] = [];
  d.store.subscribe((batch) => events.push(...batch));
  const result = txnResult(d.run(txn({
    compare: [{ key: "gone", target: "version", op: "=", value: 1 }],
    success: [
      putOp("a", "1"),
      putOp("b", "2"),
      { op: "delete", key: "gone" },
      { op: "delete", key: "never" },
      { op: "deletePrefix", prefix: "old/" },
      { op: "get", key: "a" },
      { op: "list", prefix: "", limit: 10 },
    ],
  })));
  assert.equal(result.succeeded, true);
  assert.equal(result.revision, 4);
  assert.deepEqual(result.results.slice(0, 5), [
    { op: "put", key: "a", createRevision: 4, modRevision: 4, version: 1 },
    { op: "put", key: "b", createRevision: 4, modRevision: 4, version: 1 },
    { op: "delete", key: "gone", deleted: true },
    { op: "delete", key: "never", deleted: false },
    { op: "deletePrefix", deleted: 2 },
  ]);
  const get = result.results[5];
  assert.ok(get?.op === "get");
  assert.equal(text(get.kv), "1", "later operations see earlier ones");
  const list = result.results[6];
  assert.ok(list?.op === "list");
  assert.deepEqual(list.items.map((kv) => kv.key), ["a", "b"]);
  assert.deepEqual(events.map((e) => [e.type, e.key, e.revision]), [
    ["put", "a", 4],
    ["put", "b", 4],
    ["delete", "gone", 4],
    ["delete", "old/1", 4],
    ["delete", "old/2", 4],
  ]);
  assert.deepEqual(d.store.eventsSince(4, "").length, 5);
});

Deno.test("the failure branch runs when a compare fails; a txn writing nothing keeps the revision", () => {
  const d = new Driver();
  d.run(putCmd("a", "1"));
  const result = txnResult(d.run(txn({
    compare: [{ key: "a", target: "value", op: "=", value: bytes("2") }],
    success: [putOp("a", "3")],
    failure: [{ op: "get", key: "a" }, { op: "delete", key: "nothing" }],
  })));
  assert.equal(result.succeeded, false);
  assert.equal(result.revision, 1);
  assert.equal(d.store.revision, 1);
  assert.equal(text(d.store.get("a")), "1");
});

Deno.test("a put naming a gone lease fails the whole txn with lease_not_found, nothing written", () => {
  const d = new Driver();
  const granted = d.run({ op: "leaseGrant", ttlMs: 5000 });
  assert.ok(granted.ok);
  const result = d.run(
    txn({ success: [putOp("a", "1"), putOp("b", "2", "1"), putOp("c", "3", "9")] }),
  );
  assert.equal(!result.ok && result.code, "lease_not_found");
  assert.equal(d.store.size, 0);
  assert.equal(d.store.revision, 0);
  const ok = txnResult(d.run(txn({ success: [putOp("a", "1"), putOp("b", "2", "1")] })));
  assert.equal(ok.revision, 1);
  assert.equal(d.store.get("b")?.lease, "1");
  assert.deepEqual(d.store.lease("1")?.keys, ["b"]);
});

Deno.test("idempotency: a retried txn entry answers its first result and applies once", () => {
  const d = new Driver();
  const command = txn({ success: [putOp("n", "1")] });
  const first = d.run(command, { idempotencyKey: "t-1" });
  const again = d.run(command, { idempotencyKey: "t-1" });
  assert.deepEqual(again, first);
  assert.equal(d.store.get("n")?.version, 1);
});

Deno.test("checkTxn: limits, one write per key, shapes, each refusal naming its position; apply refuses a bad entry without throwing", () => {
  const limits = DEFAULT_KV_LIMITS;
  const bad = (t: unknown, pattern: RegExp, code = "bad_request") =>
    assert.throws(
      () => checkTxn(t, limits),
      (e: unknown) => e instanceof RaftkvError && e.code === code && pattern.test(e.message),
      `${pattern} (${code})`,
    );
  const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));
  bad({
    compare: many(MAX_TXN_COMPARES + 1, () => ({ key: "a", target: "version", op: "=", value: 0 })),
  }, /^compare: has 129 compares; the limit is 128$/);
  bad(
    { success: many(MAX_TXN_OPS + 1, (i) => putOp(`k${i}`, "v")) },
    /^success: has 129 operations; the limit is 128$/,
  );
  bad(
    { success: [putOp("a", "1"), { op: "delete", key: "a" }] },
    /^success\[1\]\.delete\.key: key "a" is written twice \(also by success\[0\]\)/,
  );
  bad(
    { success: [putOp("p/a", "1"), { op: "deletePrefix", prefix: "p/" }] },
    /^success\[1\]\.deletePrefix\.prefix: prefix "p\/" covers key "p\/a", written by success\[0\]$/,
  );
  bad(
    { failure: [{ op: "deletePrefix", prefix: "p/" }, { op: "get", key: "x" }, putOp("p/a", "1")] },
    /^failure\[2\]\.put\.key: key "p\/a" is under prefix "p\/", deleted by failure\[0\]$/,
  );
  bad(
    { success: [{ op: "deletePrefix", prefix: "p" }, { op: "deletePrefix", prefix: "p/x" }] },
    /^success\[1\]\.deletePrefix\.prefix: prefix "p\/x" overlaps prefix "p", deleted by success\[0\]$/,
  );
  bad(
    { success: [{ op: "deletePrefix", prefix: "" }] },
    /^success\[0\]\.deletePrefix\.prefix: must not be empty/,
  );
  bad(
    { compare: [{ key: "a", target: "nope", op: "=", value: 0 }] },
    /^compare\[0\]\.target: must be one of value, version, createRevision, modRevision, lease$/,
  );
  bad(
    { compare: [{ key: "a", target: "version", op: "~", value: 0 }] },
    /^compare\[0\]\.op: must be one of =, !=, <, >$/,
  );
  bad(
    { compare: [{ key: "a", target: "version", op: "=", value: -1 }] },
    /^compare\[0\]\.value: must be a non-negative integer for target version$/,
  );
  bad(
    { compare: [{ key: "a", target: "lease", op: "=", value: "xyz" }] },
    /^compare\[0\]\.value: must be a lease id/,
  );
  bad(
    { success: [{ op: "put", key: "", value: bytes("v"), lease: null }] },
    /^success\[0\]\.put\.key: key must not be empty$/,
  );
  bad(
    { success: [{ op: "put", key: "k", value: "text", lease: null }] },
    /^success\[0\]\.put\.value: must be a value$/,
  );
  bad(
    { success: [{ op: "put", key: "k", value: bytes("v"), lease: "zz" }] },
    /^success\[0\]\.put\.lease: must be a lease id/,
  );
  bad(
    { failure: [{ op: "get", key: "k".repeat(limits.maxKeyBytes + 1) }] },
    /^failure\[0\]\.get\.key: key is 4097 bytes; the limit is 4096$/,
    "too_large",
  );
  bad(
    { success: [putOp("a", "x".repeat(limits.maxValueBytes + 1))] },
    /^success\[0\]\.put\.value: value is 1048577 bytes; the limit is 1048576$/,
    "too_large",
  );
  bad(
    { success: [{ op: "list", prefix: "", limit: 0 }] },
    /^success\[0\]\.list\.limit: must be an integer in 1\.\.1000$/,
  );
  bad(
    { success: [{ op: "list", prefix: 5 }] },
    /^success\[0\]\.list\.prefix: prefix must be a string$/,
  );
  bad({ success: [{ op: "frob", key: "a" }] }, /^success\[0\]: unknown operation "frob"$/);
  bad({ failure: [7] }, /^failure\[0\]: must be an operation$/);
  bad({ compare: [null] }, /^compare\[0\]: must be an object$/);
  bad({ success: "nope" }, /^success: must be an array$/);
  // The same key in both branches is fine: only one branch runs.
  checkTxn({ success: [putOp("a", "1")], failure: [putOp("a", "2")] }, limits);
  // A malformed txn entry in the log is refused by apply, identically everywhere.
  const d = new Driver();
  const cbor = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true });
  const twice = [putOp("a", "1"), putOp("a", "2")];
  const raw = new Uint8Array(cbor.encode([1, T0, null, 8, [], twice, []]));
  const refused = d.raw(raw);
  assert.equal(!refused.ok && refused.code, "bad_request");
  assert.equal(d.store.size, 0);
  assert.throws(() => entry(txn({ success: [putOp("a", "1"), putOp("a", "2")] })), /twice/);
});

// Found by the outside audit: 128 gets of a 1 MiB value answered 128 MiB, and such a
// result remembered under an Idempotency-Key made every later snapshot unrestorable.
Deno.test("a transaction's reads are bounded: a list ends early, a get past the budget refuses it", () => {
  const d = new Driver();
  const mib = (n: number) => new Uint8Array(Math.round(n * 1024 * 1024)).fill(97);
  d.run(putCmd("big/1", mib(0.6)));
  d.run(putCmd("big/2", mib(0.6)));
  const before = d.store.revision;
  // One record beyond the budget still fits when it is the first read.
  const one = txnResult(d.run(txn({ success: [{ op: "get", key: "big/1" }] })));
  assert.equal(one.results[0]?.op === "get" && one.results[0].kv?.key, "big/1");
  // A list ends early with `more`; a later list gets nothing, and says so.
  const lists = txnResult(d.run(txn({
    success: [{ op: "list", prefix: "big/", limit: 10 }, { op: "list", prefix: "big/", limit: 10 }],
  })));
  assert.deepEqual(
    lists.results.map((r) => r.op === "list" && [r.items.map((kv) => kv.key), r.more]),
    [[["big/1"], true], [[], true]],
  );
  // A get past the budget refuses the whole transaction, its put included.
  const refused = d.run(txn({
    success: [putOp("x", "1"), { op: "get", key: "big/1" }, { op: "get", key: "big/2" }],
  }));
  assert.equal(!refused.ok && refused.code, "too_large", JSON.stringify(refused));
  assert.match(
    !refused.ok ? refused.message : "",
    /^success\[2\]\.get: the transaction reads more/,
  );
  assert.equal(d.store.revision, before);
  assert.equal(d.store.get("x"), null);
  assert.throws(
    () =>
      d.store.readTxn({
        compare: [],
        success: [{ op: "get", key: "big/1" }, { op: "get", key: "big/2" }],
        failure: [],
      }),
    (e: unknown) => e instanceof RaftkvError && e.code === "too_large",
  );
  // Reads are sized against the state they see: a put earlier in the branch counts.
  const small = d.run(txn({
    success: [putOp("big/1", "tiny"), { op: "get", key: "big/1" }, { op: "get", key: "big/2" }],
  }));
  assert.equal(small.ok, true, JSON.stringify(small));
  assert.equal(text(d.store.get("big/1")), "tiny");
  const grown = d.run(txn({
    success: [
      { op: "put", key: "big/1", value: mib(0.6), lease: null },
      { op: "get", key: "big/1" },
      { op: "get", key: "big/2" },
    ],
  }));
  assert.equal(!grown.ok && grown.code, "too_large");
  assert.match(
    !grown.ok ? grown.message : "",
    /^success\[2\]\.get: /,
    "the read after the grown key",
  );
  assert.equal(text(d.store.get("big/1")), "tiny");
  const gone = d.run(txn({
    success: [{ op: "deletePrefix", prefix: "big/" }, { op: "list", prefix: "", limit: 10 }],
  }));
  assert.deepEqual(
    txnResult(gone).results[1],
    { op: "list", items: [d.store.get("x")].filter((kv) => kv !== null), more: false },
  );
});
