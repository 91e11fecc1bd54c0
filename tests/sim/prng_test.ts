import assert from "node:assert/strict";
import { Prng } from "./prng.ts";

Deno.test("prng repeats the same sequence for the same seed", () => {
  const a = new Prng(42);
  const b = new Prng(42);
  for (let i = 0; i < 1000; i++) assert.equal(a.nextUint32(), b.nextUint32());
});

Deno.test("prng sequences of neighbouring seeds differ from the first value", () => {
  const firsts = new Set<number>();
  for (let seed = 0; seed < 100; seed++) firsts.add(new Prng(seed).nextUint32());
  assert.equal(firsts.size, 100);
});

Deno.test("prng int, range and float stay within their bounds and cover them", () => {
  const p = new Prng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) {
    const v = p.int(10);
    assert.ok(v >= 0 && v < 10);
    seen.add(v);
    const r = p.range(-3, 3);
    assert.ok(r >= -3 && r <= 3);
    const f = p.float();
    assert.ok(f >= 0 && f < 1);
  }
  assert.equal(seen.size, 10);
});

Deno.test("prng shuffle is a permutation and weighted never picks a zero weight", () => {
  const p = new Prng(3);
  const items = [1, 2, 3, 4, 5, 6];
  assert.deepEqual(p.shuffle(items).sort(), items);
  for (let i = 0; i < 2000; i++) assert.notEqual(p.weighted([1, 0, 2]), 1);
});

Deno.test("prng forks are deterministic and independent of later parent draws", () => {
  const a = new Prng(9).fork();
  const b = new Prng(9).fork();
  assert.equal(a.nextUint32(), b.nextUint32());
});

Deno.test("prng rejects a non-positive bound", () => {
  assert.throws(() => new Prng(1).int(0));
});
