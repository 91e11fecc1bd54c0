import assert from "node:assert/strict";
import { applyOp, describeInput, describeOutput, step } from "./kv_model.ts";

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
