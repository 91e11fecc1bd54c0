import assert from "node:assert/strict";
import { isValidNodeId, MAX_NODE_ID_CHARS } from "../../src/node_id.ts";
import { MAX_NODE_ID_LENGTH } from "../../src/transport/wire.ts";

Deno.test("one node-id rule: letters, digits, '_', '.', '-', at most 64, also on the wire", () => {
  for (const ok of ["n1", "node_2.a-b", "x".repeat(MAX_NODE_ID_CHARS)]) {
    assert.ok(isValidNodeId(ok), ok);
  }
  for (const bad of ["", "n 1", "n/1", "é", "x".repeat(MAX_NODE_ID_CHARS + 1)]) {
    assert.ok(!isValidNodeId(bad), bad);
  }
  assert.equal(MAX_NODE_ID_LENGTH, MAX_NODE_ID_CHARS, "the wire bounds ids by the same limit");
});
