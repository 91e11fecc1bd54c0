import assert from "node:assert/strict";
import { ConditionWaiters, MAX_CONDITION_WAITERS } from "../../src/node/waiters.ts";

Deno.test("a waiter resolves true when the loop finds its condition met", async () => {
  let led = false;
  const waiters = new ConditionWaiters(() => 0);
  const p = waiters.wait(() => led, 100);
  waiters.check();
  assert.equal(waiters.size, 1, "not met yet: still waiting");
  led = true;
  waiters.check();
  assert.equal(await p, true);
  assert.equal(waiters.size, 0);
});

Deno.test("a waiter resolves false once its deadline passes on the injected clock", async () => {
  let now = 0;
  const waiters = new ConditionWaiters(() => now);
  const p = waiters.wait(() => false, 100);
  now = 99;
  waiters.check();
  assert.equal(waiters.size, 1);
  now = 100;
  waiters.check();
  assert.equal(await p, false);
});

Deno.test("a condition already met resolves at once; an abort or failAll resolves false", async () => {
  const waiters = new ConditionWaiters(() => 0);
  assert.equal(await waiters.wait(() => true, 0), true);
  const ac = new AbortController();
  const aborted = waiters.wait(() => false, 1000, ac.signal);
  ac.abort();
  assert.equal(await aborted, false);
  const failed = waiters.wait(() => false, 1000);
  waiters.failAll();
  assert.equal(await failed, false);
  assert.equal(waiters.size, 0);
});

Deno.test("waiters beyond the limit are refused (false) instead of queued", async () => {
  const waiters = new ConditionWaiters(() => 0);
  for (let i = 0; i < MAX_CONDITION_WAITERS; i++) void waiters.wait(() => false, 1);
  assert.equal(await waiters.wait(() => false, 1), false);
  waiters.failAll();
});
