import assert from "node:assert/strict";
import { DeadlineQueue, type TimerSource } from "../../src/http/deadlines.ts";
import { waitFor } from "../integration/harness.ts";

Deno.test("deadlines fire once, in the order they were set, and cancelled ones never", async () => {
  const queue = new DeadlineQueue(20);
  const fired: number[] = [];
  const deadlines = [0, 1, 2, 3, 4].map((i) => queue.add(() => fired.push(i)));
  deadlines[1]!.cancel();
  deadlines[3]!.cancel();
  deadlines[3]!.cancel(); // twice is harmless
  assert.equal(queue.live, 3);
  await waitFor("three deadlines to fire", () => (fired.length === 3 ? true : undefined), 2000);
  assert.deepEqual(fired, [0, 2, 4]);
  assert.equal(queue.live, 0);
  deadlines[0]!.cancel(); // after firing: harmless
  assert.equal(queue.live, 0);
});

Deno.test("a deadline set after the queue went idle still fires", async () => {
  const queue = new DeadlineQueue(10);
  queue.add(() => {}).cancel(); // leaves an armed, idle timer behind
  let fired = false;
  queue.add(() => (fired = true));
  await waitFor("the later deadline", () => (fired ? true : undefined), 2000);
});

Deno.test("a deadline signal aborts with a TimeoutError, unless cancelled", async () => {
  const queue = new DeadlineQueue(10);
  const kept = queue.signal();
  const cancelled = queue.signal();
  cancelled.deadline.cancel();
  await waitFor("the abort", () => (kept.signal.aborted ? true : undefined), 2000);
  assert.equal((kept.signal.reason as DOMException).name, "TimeoutError");
  assert.equal(cancelled.signal.aborted, false);
});

Deno.test("deadlines stay in order across many requests finishing out of order", async () => {
  const queue = new DeadlineQueue(15);
  const fired: number[] = [];
  const all = Array.from({ length: 3000 }, (_, i) => queue.add(() => fired.push(i)));
  for (let i = 0; i < all.length; i += 2) all[i]!.cancel();
  await waitFor("1500 deadlines", () => (fired.length === 1500 ? true : undefined), 5000);
  assert.deepEqual(fired, Array.from({ length: 1500 }, (_, k) => 2 * k + 1));
});

Deno.test("deadlines run on an injected clock and timer source (virtual time, no setTimeout)", () => {
  let now = 1_000;
  const timers: { atMs: number; fire: () => void; held: boolean }[] = [];
  const source: TimerSource = {
    after(delayMs, fire) {
      const t = { atMs: now + delayMs, fire, held: true };
      timers.push(t);
      return { hold: (keepAlive) => (t.held = keepAlive) };
    },
  };
  /** Advances the virtual clock to `toMs`, firing due timers in order. */
  const advance = (toMs: number) => {
    for (;;) {
      timers.sort((a, b) => a.atMs - b.atMs);
      const next = timers[0];
      if (next === undefined || next.atMs > toMs) break;
      timers.shift();
      now = next.atMs;
      next.fire();
    }
    now = toMs;
  };
  const queue = new DeadlineQueue(500, () => now, source);
  const fired: string[] = [];
  queue.add(() => fired.push("a"));
  advance(1_200);
  const b = queue.add(() => fired.push("b")); // due at 1 700
  queue.add(() => fired.push("c")); // due at 1 700
  b.cancel();
  advance(1_499);
  assert.deepEqual(fired, []);
  advance(1_500);
  assert.deepEqual(fired, ["a"]);
  advance(1_699);
  assert.deepEqual(fired, ["a"]);
  advance(1_700);
  assert.deepEqual(fired, ["a", "c"]);
  assert.equal(queue.live, 0);
  // Idle: the armed timer no longer holds the process open.
  queue.add(() => {}).cancel();
  assert.ok(timers.every((t) => !t.held));
});
