import assert from "node:assert/strict";
import { EventQueue } from "./event_queue.ts";
import { Prng } from "./prng.ts";

Deno.test("event queue pops by time, then by insertion order", () => {
  const q = new EventQueue<string>();
  q.push(5, "c");
  q.push(1, "a");
  q.push(5, "d");
  q.push(2, "b");
  const out: string[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e.value);
  assert.deepEqual(out, ["a", "b", "c", "d"]);
  assert.equal(q.peekTime(), Infinity);
});

Deno.test("event queue stays ordered under random pushes and filters", () => {
  const p = new Prng(11);
  const q = new EventQueue<number>();
  for (let i = 0; i < 500; i++) q.push(p.int(100), i);
  q.filter((v) => v % 3 !== 0);
  let last = -1;
  let count = 0;
  for (let e = q.pop(); e !== undefined; e = q.pop()) {
    assert.ok(e.atMs >= last);
    assert.notEqual(e.value % 3, 0);
    last = e.atMs;
    count++;
  }
  assert.equal(count, 500 - 167);
});
