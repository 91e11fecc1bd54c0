import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { majority, quorumValue, voteResult } from "../../src/raft/quorum.ts";

Deno.test("majority sizes", () => {
  assertEquals([1, 2, 3, 4, 5].map(majority), [1, 2, 2, 3, 3]);
});

Deno.test("quorumValue is the highest value a majority has reached", () => {
  const m: Record<string, number> = { a: 5, b: 9, c: 7, d: 1, e: 7 };
  const get = (id: string) => m[id] ?? 0;
  assertEquals(quorumValue(["a", "b", "c"], get), 7);
  assertEquals(quorumValue(["a", "b", "c", "d"], get), 5);
  assertEquals(quorumValue(["a", "b", "c", "d", "e"], get), 7);
  assertEquals(quorumValue(["b"], get), 9);
  assertEquals(quorumValue([], get), 0);
});

Deno.test("voteResult counts only voters and decides early", () => {
  const voters = ["a", "b", "c", "d"];
  assertEquals(voteResult(voters, new Map([["a", true], ["b", true]])), "pending");
  assertEquals(voteResult(voters, new Map([["a", true], ["b", true], ["c", true]])), "won");
  assertEquals(voteResult(voters, new Map([["a", true], ["b", false], ["c", false]])), "lost");
  assertEquals(
    voteResult(["a", "b", "c"], new Map([["a", true], ["x", true], ["y", true]])),
    "pending",
  );
});
