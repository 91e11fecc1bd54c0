import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { FollowerProgress, Inflights } from "../../src/raft/tracker.ts";

Deno.test("the in-flight window is bounded and frees by index", () => {
  const w = new Inflights(3);
  w.add(5);
  w.add(9);
  w.add(12);
  ok(w.full());
  throws(() => w.add(13));
  w.freeLE(9);
  assertEquals(w.count, 1);
  w.add(20);
  w.add(25);
  w.freeLE(100);
  assertEquals(w.count, 0);
});

Deno.test("probe sends one append at a time; replicate pipelines up to the window", () => {
  const pr = new FollowerProgress(10, false, 2);
  ok(!pr.isPaused());
  pr.probeSent = true;
  ok(pr.isPaused());
  pr.maybeUpdate(9, 0);
  ok(!pr.isPaused(), "an answer unpauses the probe");
  pr.becomeReplicate();
  assertEquals(pr.next, 10);
  pr.inflights.add(12);
  pr.inflights.add(15);
  ok(pr.isPaused());
  pr.becomeSnapshot(100);
  ok(pr.isPaused());
  pr.becomeProbe();
  assertEquals(pr.next, 101, "probing resumes after the shipped snapshot");
});

Deno.test("rejections move next back using the hint, and stale ones are ignored", () => {
  const pr = new FollowerProgress(20, false, 4);
  ok(pr.maybeDecrTo(19, 7));
  assertEquals(pr.next, 8);
  ok(!pr.maybeDecrTo(19, 3), "stale: not the last probe");
  pr.maybeUpdate(7, 0);
  pr.becomeReplicate();
  pr.next = 30;
  ok(!pr.maybeDecrTo(6, 0), "below match is stale in replicate");
  ok(pr.maybeDecrTo(25, 0));
  assertEquals(pr.next, 8);
});
