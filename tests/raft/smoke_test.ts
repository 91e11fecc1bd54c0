import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { bytes, Network } from "./network.ts";

Deno.test("three nodes elect a leader and commit a proposal", () => {
  const net = new Network({ voters: ["a", "b", "c"] });
  net.elect("a");
  const r = net.raft("a").propose(bytes("x"));
  assertEquals(r.ok, true);
  net.settle();
  net.tick(2);
  for (const id of ["a", "b", "c"]) assertEquals(net.appliedText(id), ["x"]);
});
