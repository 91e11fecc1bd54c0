import assert from "node:assert/strict";
import { fromWire, toWire } from "./txn_wire.ts";
import type { TxnInput } from "./history.ts";

const SWAP: TxnInput = {
  op: "txn",
  compare: [
    { key: "a", is: "value", value: "c1-0" },
    { key: "b", is: "absent" },
    { key: "c", is: "present" },
    { key: "d", is: "otherValue", value: "c2-5" },
  ],
  success: [{ op: "put", key: "a", value: "c1-1" }, { op: "delete", key: "b" }],
  failure: [{ op: "get", key: "a" }, { op: "get", key: "b" }],
};

Deno.test("model compares go out as the wire compares that mean the same", () => {
  const always = () => 0;
  const never = () => 0.99;
  const revisions = new Map([["a\nc1-0", 17]]);
  const byRevision = toWire(SWAP, revisions, always);
  assert.deepEqual(byRevision.compare, [
    { key: "a", target: "modRevision", op: "=", value: 17 },
    { key: "b", target: "version", op: "=", value: 0 },
    { key: "c", target: "version", op: ">", value: 0 },
    { key: "d", target: "value", op: "!=", value: "c2-5" },
  ]);
  const byValue = toWire(SWAP, revisions, never);
  assert.deepEqual(byValue.compare.slice(0, 2), [
    { key: "a", target: "value", op: "=", value: "c1-0" },
    { key: "b", target: "createRevision", op: "=", value: 0 },
  ]);
  // Without a known revision a value compare stays a value compare.
  assert.equal(toWire(SWAP, new Map(), always).compare[0]?.target, "value");
  assert.deepEqual(byValue.success, [{ put: { key: "a", value: "c1-1" } }, {
    delete: { key: "b" },
  }]);
  assert.deepEqual(byValue.failure, [{ get: { key: "a" } }, { get: { key: "b" } }]);
});

Deno.test("answers map to model outputs; a put off the txn's revision is reported", () => {
  const ok = fromWire(SWAP, {
    kind: "txn",
    succeeded: true,
    revision: 9,
    results: [
      { put: { key: "a", createRevision: 3, modRevision: 9, version: 2 } },
      { delete: { key: "b", deleted: false } },
    ],
  });
  assert.deepEqual(ok, {
    output: { succeeded: true, results: [{ ok: true }, { ok: true, existed: false }] },
    problems: [],
  });
  const failed = fromWire(SWAP, {
    kind: "txn",
    succeeded: false,
    revision: 9,
    results: [
      {
        get: {
          kv: { key: "a", value: "c3-3", createRevision: 3, modRevision: 8, version: 4 },
        },
      },
      { get: { kv: null } },
    ],
  });
  assert.deepEqual(failed.output, {
    succeeded: false,
    results: [{ value: "c3-3" }, { value: null }],
  });
  const torn = fromWire(SWAP, {
    kind: "txn",
    succeeded: true,
    revision: 9,
    results: [
      { put: { key: "a", createRevision: 3, modRevision: 8, version: 2 } },
      { get: { kv: null } },
    ],
  });
  assert.equal(torn.problems.length, 2, torn.problems.join("\n"));
  assert.equal(torn.output.results.length, 1);
});
