import assert from "node:assert/strict";
import { backoffDelayMs, RECONNECT_MAX_MS, RECONNECT_MIN_MS } from "../../src/transport/backoff.ts";

Deno.test("reconnect backoff grows exponentially between the named bounds", () => {
  assert.equal(backoffDelayMs(0, () => 0), RECONNECT_MIN_MS / 2);
  assert.equal(backoffDelayMs(0, () => 0.999999), RECONNECT_MIN_MS - 1);
  assert.ok(backoffDelayMs(3, () => 0) > backoffDelayMs(2, () => 0));
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(i, Math.random);
    assert.ok(d >= RECONNECT_MIN_MS / 2 && d <= RECONNECT_MAX_MS, `attempt ${i}: ${d}`);
  }
});
