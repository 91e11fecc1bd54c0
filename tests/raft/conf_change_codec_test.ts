import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { decodeConfChange, encodeConfChange } from "../../src/raft/conf_change_codec.ts";
import { applyConfChange, confChangeError } from "../../src/raft/confchange.ts";

Deno.test("conf changes round-trip through the codec; garbage decodes to null", () => {
  const cc = { type: "promote" as const, nodeId: "n4", context: '{"peer":"x"}' };
  assertEquals(decodeConfChange(encodeConfChange(cc)), cc);
  assertEquals(decodeConfChange(new Uint8Array([1, 2, 3])), null);
  assertEquals(decodeConfChange(new TextEncoder().encode('{"type":"nuke","nodeId":"a"}')), null);
});

Deno.test("membership rules: no duplicates, promote only learners, keep one voter", () => {
  const conf = { voters: ["a", "b"], learners: ["l"] };
  assertEquals(
    confChangeError(conf, { type: "addVoter", nodeId: "a", context: "" }) !== null,
    true,
  );
  assertEquals(confChangeError(conf, { type: "promote", nodeId: "b", context: "" }) !== null, true);
  assertEquals(
    applyConfChange(conf, { type: "promote", nodeId: "l", context: "" }),
    { voters: ["a", "b", "l"], learners: [] },
  );
  assertEquals(
    applyConfChange(conf, { type: "remove", nodeId: "a", context: "" }),
    { voters: ["b"], learners: ["l"] },
  );
  const one = { voters: ["a"], learners: [] };
  assertEquals(confChangeError(one, { type: "remove", nodeId: "a", context: "" }) !== null, true);
});
