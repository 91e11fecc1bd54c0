/**
 * Reconnect delays: exponential from {@link RECONNECT_MIN_MS} to {@link RECONNECT_MAX_MS}
 * with "equal jitter" (half fixed, half random) so that peers restarted together do not
 * redial in lockstep.
 *
 * @module
 */

/** First reconnect delay. */
export const RECONNECT_MIN_MS = 50;
/** Longest reconnect delay. */
export const RECONNECT_MAX_MS = 2_000;

/** Delay before reconnect attempt number `attempt` (0-based); `random` in [0, 1). */
export function backoffDelayMs(
  attempt: number,
  random: () => number = Math.random,
  minMs = RECONNECT_MIN_MS,
  maxMs = RECONNECT_MAX_MS,
): number {
  const exp = Math.min(attempt, 30);
  const ceiling = Math.min(maxMs, minMs * 2 ** exp);
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}
