import assert from "node:assert/strict";
import { put, setup } from "./helpers.ts";

type App = ReturnType<typeof setup>["app"];

function txn(app: App, body: unknown, headers: Record<string, string> = {}, query = "") {
  return Promise.resolve(app.request(`/v1/txn${query}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers,
  }));
}

Deno.test("POST /v1/txn runs the success branch and answers etcd-shaped results", async () => {
  const { node, app } = setup();
  await put(app, "a", "1");
  const res = await txn(app, {
    compare: [{ key: "a", target: "value", op: "=", value: "1" }],
    success: [
      { put: { key: "a", value: "2" } },
      { put: { key: "bin", valueBase64: "/wA=" } },
      { delete: { key: "b" } },
      { get: { key: "a" } },
    ],
    failure: [{ get: { key: "a" } }],
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.succeeded, true);
  assert.equal(res.headers.get("X-Raftkv-Revision"), String(body.revision));
  assert.deepEqual(body.results[0], {
    put: { key: "a", createRevision: 1, modRevision: 2, version: 2 },
  });
  assert.deepEqual(body.results[2], { delete: { key: "b", deleted: false } });
  assert.equal(body.results[3].get.kv.value, "2");
  assert.equal(body.results[3].get.kv.lease, null);
  assert.deepEqual([...(node.keys.get("bin")?.value ?? [])], [0xff, 0x00]);
  assert.equal(node.writes.length, 2, "one put, then the transaction as one write");
  assert.equal(node.writes[1]?.command.op, "txn");
});

Deno.test("the failure branch answers succeeded:false; a missing key's value never compares", async () => {
  const { app } = setup();
  const body = await (await txn(app, {
    compare: [{ key: "nope", target: "value", op: "!=", value: "x" }],
    success: [{ put: { key: "x", value: "1" } }],
    failure: [{ get: { key: "nope" } }, { list: { prefix: "", limit: 5 } }],
  })).json();
  assert.equal(body.succeeded, false);
  assert.deepEqual(body.results, [{ get: { kv: null } }, { list: { items: [], more: false } }]);
});

Deno.test("a transaction that writes in neither branch is served by the read path", async () => {
  const { node, app } = setup();
  await put(app, "a", "1");
  const writes = node.writes.length;
  const res = await txn(
    app,
    {
      compare: [{ key: "a", target: "version", op: ">", value: 0 }],
      success: [{ get: { key: "a" } }],
      failure: [{ list: { prefix: "a" } }],
    },
    {},
    "?consistency=stale",
  );
  assert.equal(res.status, 200);
  assert.equal((await res.json()).results[0].get.kv.value, "1");
  assert.equal(node.writes.length, writes, "no log entry");
  assert.equal(node.readTxns.length, 1);
});

Deno.test("Idempotency-Key is passed with the transaction's write", async () => {
  const { node, app } = setup();
  await txn(app, { success: [{ put: { key: "k", value: "v" } }] }, { "Idempotency-Key": "t-7" });
  assert.equal(node.writes.at(-1)?.idempotencyKey, "t-7");
});

Deno.test("a put naming an unknown lease fails the whole txn: 404 lease_not_found", async () => {
  const { node, app } = setup();
  const res = await txn(app, {
    success: [{ put: { key: "a", value: "1" } }, { put: { key: "b", value: "1", lease: "5" } }],
  });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, "lease_not_found");
  assert.equal(node.keys.size, 0);
});

Deno.test("every bad transaction is a 400 (or 413) and writes nothing", async () => {
  const { node, app } = setup({ maxValueBytes: 16 * 1024 });
  const cases: [unknown, RegExp][] = [
    ["not json", /JSON/],
    [[1, 2], /object/],
    [{ compare: "x" }, /array/],
    [{ extra: 1 }, /unknown field/],
    [{ success: [{ put: { key: "a" } }] }, /exactly one of value/],
    [{ success: [{ put: { key: "a", value: "1", valueBase64: "MQ==" } }] }, /exactly one/],
    [{ success: [{ put: { key: "a", valueBase64: "!!" } }] }, /base64/],
    [{ success: [{ put: { key: "a", value: 5 } }] }, /string/],
    [
      { success: [{ put: { key: "a", value: "1" }, delete: { key: "b" } }] },
      /exactly one operation/,
    ],
    [{ success: [{ frob: { key: "a" } }] }, /unknown operation/],
    [{ success: [{ put: { key: "a", value: "1" } }, { put: { key: "a", value: "2" } }] }, /twice/],
    [{ success: [{ delete: { key: "p/a" } }, { deletePrefix: { prefix: "p/" } }] }, /prefix/],
    [{ success: [{ deletePrefix: { prefix: "" } }] }, /empty/],
    [{ success: [{ put: { key: "a\u0000b", value: "1" } }] }, /NUL/],
    [{ success: [{ put: { key: "", value: "1" } }] }, /empty/],
    [{ success: [{ put: { key: "a", value: "1", lease: "nope" } }] }, /lease id/],
    [{ success: [{ put: { key: "a", value: "1", bogus: 1 } }] }, /unknown field/],
    [{ compare: [{ key: "a", target: "version", op: "=", value: "1" }] }, /integer/],
    [{ compare: [{ key: "a", target: "mystery", op: "=", value: 1 }] }, /target/],
    [{ compare: [{ key: "a", target: "version", op: "<=", value: 1 }] }, /op/],
    [
      { compare: [{ key: "a", target: "version", op: "=", valueBase64: "MQ==" }] },
      /only for target value/,
    ],
    [{ success: [{ list: { prefix: "", limit: 5000 } }] }, /limit/],
    [
      { success: Array.from({ length: 129 }, (_, i) => ({ get: { key: `k${i}` } })) },
      /limit is 128/,
    ],
    [{
      compare: Array.from(
        { length: 129 },
        () => ({ key: "a", target: "version", op: "=", value: 0 }),
      ),
    }, /limit is 128/],
  ];
  for (const [body, pattern] of cases) {
    const res = await txn(app, body);
    const error = (await res.json()).error;
    assert.equal(res.status, 400, JSON.stringify(body).slice(0, 200));
    assert.equal(error.code, "bad_request");
    assert.match(error.message, pattern, JSON.stringify(body).slice(0, 200));
  }
  // Over the body limit (value + key limits of the options: 16 KiB + 64 bytes here).
  const big = await txn(app, { success: [{ put: { key: "a", value: "x".repeat(17_000) } }] });
  assert.equal(big.status, 413);
  await big.body?.cancel();
  const key = await txn(app, { success: [{ put: { key: "k".repeat(100), value: "x" } }] });
  assert.equal(key.status, 413);
  await key.body?.cancel();
  assert.equal(node.writes.length, 0);
  assert.equal((await app.request("/v1/txn")).status, 405);
});
