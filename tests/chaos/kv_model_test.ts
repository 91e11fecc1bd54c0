import assert from "node:assert/strict";
import {
  applyOp,
  applyTxn,
  compareHolds,
  describeInput,
  describeOutput,
  step,
  stepSlots,
} from "./kv_model.ts";
import type { TxnInput } from "./history.ts";

Deno.test("get must return the current value or null for a missing key", () => {
  assert.deepEqual(step("a", { op: "get", key: "k" }, { value: "a" }), { ok: true, newState: "a" });
  assert.equal(step("a", { op: "get", key: "k" }, { value: "b" }).ok, false);
  assert.equal(step(null, { op: "get", key: "k" }, { value: null }).ok, true);
  assert.equal(step(null, { op: "get", key: "k" }, { value: "" }).ok, false);
});

Deno.test("put always succeeds and sets the value", () => {
  const put = { op: "put", key: "k", value: "b" } as const;
  assert.deepEqual(step("a", put, { ok: true }), { ok: true, newState: "b" });
  assert.deepEqual(step(null, put, { ok: true }), { ok: true, newState: "b" });
});

Deno.test("delete removes the key and, when reported, must know whether it existed", () => {
  const del = { op: "delete", key: "k" } as const;
  assert.deepEqual(step("a", del, { ok: true }), { ok: true, newState: null });
  assert.equal(step("a", del, { ok: true, existed: true }).ok, true);
  assert.equal(step("a", del, { ok: true, existed: false }).ok, false);
  assert.equal(step(null, del, { ok: true, existed: false }).ok, true);
  assert.equal(step(null, del, { ok: true, existed: true }).ok, false);
});

Deno.test("cas succeeds exactly when the value equals expected (null: key absent)", () => {
  const cas = { op: "cas", key: "k", expected: "a", value: "b" } as const;
  assert.deepEqual(step("a", cas, { ok: true }), { ok: true, newState: "b" });
  assert.deepEqual(step("a", cas, { ok: false }), { ok: false, newState: "a" });
  assert.deepEqual(step("x", cas, { ok: false }), { ok: true, newState: "x" });
  assert.equal(step(null, cas, { ok: true }).ok, false);
  const create = { op: "cas", key: "k", expected: null, value: "b" } as const;
  assert.deepEqual(step(null, create, { ok: true }), { ok: true, newState: "b" });
  assert.equal(step("", create, { ok: true }).ok, false);
});

Deno.test("an unknown outcome is always a legal step that applies the operation", () => {
  assert.deepEqual(step("a", { op: "put", key: "k", value: "b" }, null), {
    ok: true,
    newState: "b",
  });
  assert.deepEqual(step("a", { op: "delete", key: "k" }, null), { ok: true, newState: null });
  const cas = { op: "cas", key: "k", expected: "a", value: "b" } as const;
  assert.deepEqual(step("a", cas, null), { ok: true, newState: "b" });
  assert.deepEqual(step("z", cas, null), { ok: true, newState: "z" });
});

Deno.test("applyOp gives the answers a correct store gives", () => {
  assert.deepEqual(applyOp(null, { op: "delete", key: "k" }), {
    newState: null,
    output: { ok: true, existed: false },
  });
  assert.deepEqual(applyOp("v", { op: "get", key: "k" }), {
    newState: "v",
    output: { value: "v" },
  });
});

Deno.test("operations and outputs are described readably", () => {
  const cas = { op: "cas", key: "k", expected: null, value: "b" } as const;
  assert.equal(describeInput(cas), 'cas(∅→"b")');
  assert.equal(describeOutput(cas, { ok: false }), "failed");
  assert.equal(describeOutput({ op: "get", key: "k" }, { value: null }), "∅");
  assert.equal(describeOutput({ op: "put", key: "k", value: "v" }, null), "unknown");
});

Deno.test("transaction compares: a missing key fails every value compare, is absent", () => {
  assert.equal(compareHolds({ key: "k", is: "value", value: "a" }, null), false);
  assert.equal(compareHolds({ key: "k", is: "otherValue", value: "a" }, null), false);
  assert.equal(compareHolds({ key: "k", is: "absent" }, null), true);
  assert.equal(compareHolds({ key: "k", is: "present" }, null), false);
  assert.equal(compareHolds({ key: "k", is: "value", value: "a" }, "a"), true);
  assert.equal(compareHolds({ key: "k", is: "otherValue", value: "a" }, "a"), false);
  assert.equal(compareHolds({ key: "k", is: "otherValue", value: "a" }, "b"), true);
  assert.equal(compareHolds({ key: "k", is: "present" }, "b"), true);
});

const TXN: TxnInput = {
  op: "txn",
  compare: [{ key: "a", is: "value", value: "1" }, { key: "b", is: "absent" }],
  success: [
    { op: "put", key: "a", value: "2" },
    { op: "get", key: "a" },
    { op: "delete", key: "c" },
    { op: "put", key: "b", value: "x" },
  ],
  failure: [{ op: "get", key: "a" }, { op: "get", key: "b" }],
};

Deno.test("a transaction takes the success branch when every compare holds, in order", () => {
  const store = new Map<string, string | null>([["a", "1"], ["c", "z"]]);
  const applied = applyTxn((k) => store.get(k) ?? null, TXN);
  assert.deepEqual(applied.output, {
    succeeded: true,
    // The get after the put sees the transaction's own write.
    results: [{ ok: true }, { value: "2" }, { ok: true, existed: true }, { ok: true }],
  });
  assert.deepEqual([...applied.writes], [["a", "2"], ["c", null], ["b", "x"]]);
});

Deno.test("a transaction takes the failure branch when any compare fails, writing nothing", () => {
  const applied = applyTxn((k) => (k === "a" ? "1" : k === "b" ? "y" : null), TXN);
  assert.deepEqual(applied.output, { succeeded: false, results: [{ value: "1" }, { value: "y" }] });
  assert.equal(applied.writes.size, 0);
});

Deno.test("stepSlots applies a transaction to a group's slots and checks its answer", () => {
  const index = new Map([["a", 0], ["b", 1], ["c", 2]]);
  const ok = {
    succeeded: true,
    results: [{ ok: true as const }, { value: "2" }, { ok: true as const, existed: false }, {
      ok: true as const,
    }],
  };
  assert.deepEqual(stepSlots(index, ["1", null, null], TXN, ok), {
    ok: true,
    newState: ["2", "x", null],
  });
  // The same answer in a state where b exists is impossible.
  assert.deepEqual(stepSlots(index, ["1", "y", null], TXN, ok), {
    ok: false,
    newState: ["1", "y", null],
  });
  // A delete that claims it found c, when c was absent.
  const wrong = {
    ...ok,
    results: [...ok.results.slice(0, 2), { ok: true as const, existed: true }, ok.results[3]!],
  };
  assert.equal(stepSlots(index, ["1", null, null], TXN, wrong).ok, false);
  // Unknown outcome: always legal, and applied.
  assert.deepEqual(stepSlots(index, ["1", null, null], TXN, null).newState, ["2", "x", null]);
  // Single-key operations step their own slot only.
  assert.deepEqual(
    stepSlots(index, ["1", null, null], { op: "put", key: "c", value: "v" }, {
      ok: true,
    }).newState,
    ["1", null, "v"],
  );
});

Deno.test("transactions are described readably", () => {
  assert.equal(
    describeInput(TXN),
    'txn(a="1" ∧ b=∅ ? put("2") a, get a, delete c, put("x") b : get a, get b)',
  );
  assert.equal(
    describeOutput(TXN, { succeeded: false, results: [{ value: "1" }, { value: null }] }),
    'failure ["1", ∅]',
  );
});
