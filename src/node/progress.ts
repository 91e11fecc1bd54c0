/**
 * Progress of long transfers (snapshot bytes in and out), reported in the logs so an
 * operator can see a learner being rebuilt instead of guessing.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** Report at most this often while bytes flow. */
export const PROGRESS_EVERY_MS = 2_000;

/**
 * Passes `chunks` through, logging bytes so far every few seconds and at the end; `now`
 * is the node's clock.
 */
export async function* withProgress(
  chunks: AsyncIterable<Uint8Array>,
  log: Logger,
  msg: string,
  fields: Record<string, unknown>,
  now: () => number,
): AsyncIterable<Uint8Array> {
  const startedMs = now();
  let lastReportMs = startedMs;
  let bytes = 0;
  for await (const chunk of chunks) {
    bytes += chunk.byteLength;
    const nowMs = now();
    if (nowMs - lastReportMs >= PROGRESS_EVERY_MS) {
      lastReportMs = nowMs;
      log.log("info", `${msg}: in progress`, {
        ...fields,
        bytes,
        seconds: (nowMs - startedMs) / 1000,
      });
    }
    yield chunk;
  }
  log.log("info", `${msg}: done`, { ...fields, bytes, seconds: (now() - startedMs) / 1000 });
}
