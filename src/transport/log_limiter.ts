/**
 * A bound on how many lines a flood of connections can write: anyone who can reach the
 * peer port can open connections far faster than a disk should take log lines about them
 * (measured: 295,215 lines, 38 MB, in 25 s of a connection flood before this existed).
 *
 * @module
 */

import type { TransportLog } from "./transport.ts";

/** Lines let through per window; the rest are counted and reported once per window. */
export const MAX_LOG_LINES_PER_WINDOW = 20;
/** Length of a window, in milliseconds. */
export const LOG_WINDOW_MS = 1_000;

/** Wraps `log` so at most {@link MAX_LOG_LINES_PER_WINDOW} lines pass per window. */
export function limitedLog(log: TransportLog, now: () => number = Date.now): TransportLog {
  let windowStart = Number.NEGATIVE_INFINITY;
  let passed = 0;
  let suppressed = 0;
  return (level, msg, fields) => {
    const t = now();
    if (t - windowStart >= LOG_WINDOW_MS) {
      if (suppressed > 0) {
        log("warn", "peer connection log lines suppressed", {
          suppressed,
          windowMs: LOG_WINDOW_MS,
        });
      }
      windowStart = t;
      passed = 0;
      suppressed = 0;
    }
    if (passed < MAX_LOG_LINES_PER_WINDOW) {
      passed++;
      log(level, msg, fields);
    } else {
      suppressed++;
    }
  };
}
