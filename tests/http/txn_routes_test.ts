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

Deno.test("every bad transaction is a 400 (or 413) naming the position of what is wrong, and writes nothing", async () => {
  const { node, app } = setup({ maxValueBytes: 16 * 1024 });
  const cases: [unknown, RegExp][] = [
    ["not json", /^body: must be JSON/],
    [[1, 2], /^body: must be an object$/],
    [{ compare: "x" }, /^compare: must be an array$/],
    [{ extra: 1 }, /^extra: unknown field; the fields are compare, success and failure$/],
    [
      { success: [{ put: { key: "a" } }] },
      /^success\[0\]\.put\.value: give exactly one of value \(UTF-8 text\) and valueBase64$/,
    ],
    [
      { success: [{ put: { key: "a", value: "1", valueBase64: "MQ==" } }] },
      /^success\[0\]\.put\.value: give exactly one/,
    ],
    [
      { success: [{ put: { key: "a", valueBase64: "!!" } }] },
      /^success\[0\]\.put\.valueBase64: must be base64$/,
    ],
    [
      { success: [{ put: { key: "a", value: 5 } }] },
      /^success\[0\]\.put\.value: must be a string$/,
    ],
    [
      { success: [{ put: { key: "a", value: "1" }, delete: { key: "b" } }] },
      /^success\[0\]: must name exactly one operation \(put, delete, deletePrefix, get or list\), not 2$/,
    ],
    [{ failure: [{}] }, /^failure\[0\]: must name exactly one operation .*not 0$/],
    [
      { success: [{ frob: { key: "a" } }] },
      /^success\[0\]\.frob: unknown operation; one of put, delete/,
    ],
    [{ success: [{ get: "a" }] }, /^success\[0\]\.get: must be an object$/],
    [
      {
        success: [{ get: { key: "x" } }, { put: { key: "a", value: "1" } }, {
          put: { key: "a", value: "2" },
        }],
      },
      /^success\[2\]\.put\.key: key "a" is written twice \(also by success\[1\]\)/,
    ],
    [
      { success: [{ delete: { key: "p/a" } }, { deletePrefix: { prefix: "p/" } }] },
      /^success\[1\]\.deletePrefix\.prefix: prefix "p\/" covers key "p\/a", written by success\[0\]$/,
    ],
    [
      { success: [{ deletePrefix: { prefix: "" } }] },
      /^success\[0\]\.deletePrefix\.prefix: must not be empty/,
    ],
    [
      { success: [{ get: { key: "ok" } }, { put: { key: "a\u0000b", value: "1" } }] },
      /^success\[1\]\.put\.key: key contains a NUL character/,
    ],
    [
      {
        compare: [{ key: "ok", target: "version", op: "=", value: 0 }, {
          key: "a\u0000",
          target: "version",
          op: "=",
          value: 0,
        }],
      },
      /^compare\[1\]\.key: key contains a NUL character/,
    ],
    [
      { failure: [{ list: { prefix: "p\u0000" } }] },
      /^failure\[0\]\.list\.prefix: prefix contains a NUL/,
    ],
    [
      { success: [{ put: { key: "", value: "1" } }] },
      /^success\[0\]\.put\.key: key must not be empty$/,
    ],
    [{ success: [{ delete: { key: 7 } }] }, /^success\[0\]\.delete\.key: must be a string$/],
    [
      { success: [{ put: { key: "a", value: "1", lease: "nope" } }] },
      /^success\[0\]\.put\.lease: must be a lease id/,
    ],
    [
      { success: [{ put: { key: "a", value: "1", bogus: 1 } }] },
      /^success\[0\]\.put\.bogus: unknown field; the fields are key, value \(or valueBase64\) and lease$/,
    ],
    [
      { compare: [{ key: "a", target: "version", op: "=", value: "1" }] },
      /^compare\[0\]\.value: must be a non-negative integer for target version$/,
    ],
    [
      { compare: [{ key: "a", target: "mystery", op: "=", value: 1 }] },
      /^compare\[0\]\.target: must be one of/,
    ],
    [
      {
        compare: [{ key: "a", target: "version", op: "=", value: 0 }, {
          key: "a",
          target: "version",
          op: "<=",
          value: 1,
        }],
      },
      /^compare\[1\]\.op: must be one of =, !=, <, >$/,
    ],
    [
      { compare: [{ key: "a", target: "value", op: "=" }] },
      /^compare\[0\]\.value: give exactly one/,
    ],
    [
      { compare: [{ key: "a", target: "version", op: "=", valueBase64: "MQ==" }] },
      /^compare\[0\]\.valueBase64: is only for target value$/,
    ],
    [
      { compare: [{ key: "a", target: "lease", op: "=", value: 5 }] },
      /^compare\[0\]\.value: must be a lease id/,
    ],
    [
      { compare: [{ key: "a", target: "version", op: "=", value: 0, x: 1 }] },
      /^compare\[0\]\.x: unknown field/,
    ],
    [
      { success: [{ list: { prefix: "", limit: 5000 } }] },
      /^success\[0\]\.list\.limit: must be an integer in 1\.\.1000$/,
    ],
    [
      { success: Array.from({ length: 129 }, (_, i) => ({ get: { key: `k${i}` } })) },
      /^success: has 129 operations; the limit is 128$/,
    ],
    [{
      compare: Array.from(
        { length: 129 },
        () => ({ key: "a", target: "version", op: "=", value: 0 }),
      ),
    }, /^compare: has 129 compares; the limit is 128$/],
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
  const key = await txn(app, { failure: [{ get: { key: "k".repeat(100) } }] });
  assert.equal(key.status, 413);
  assert.deepEqual((await key.json()).error, {
    code: "too_large",
    message: "failure[0].get.key: key is 100 bytes; the limit is 64",
  });
  assert.equal(node.writes.length, 0);
  assert.equal((await app.request("/v1/txn")).status, 405);
});
