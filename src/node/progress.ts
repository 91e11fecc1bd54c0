/**
 * Progress of long transfers (snapshot bytes in and out), reported in the logs so an
 * operator can see a learner being rebuilt instead of guessing.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** Report at most this often while bytes flow. */
export const PROGRESS_EVERY_MS = 2_000;

/** Passes `chunks` through, logging bytes so far every few seconds and at the end. */
export async function* withProgress(
  chunks: AsyncIterable<Uint8Array>,
  log: Logger,
  msg: string,
  fields: Record<string, unknown>,
): AsyncIterable<Uint8Array> {
  const startedMs = Date.now();
  let lastReportMs = startedMs;
  let bytes = 0;
  for await (const chunk of chunks) {
    bytes += chunk.byteLength;
    const now = Date.now();
    if (now - lastReportMs >= PROGRESS_EVERY_MS) {
      lastReportMs = now;
      log.log("info", `${msg}: in progress`, {
        ...fields,
        bytes,
        seconds: (now - startedMs) / 1000,
      });
    }
    yield chunk;
  }
  log.log("info", `${msg}: done`, { ...fields, bytes, seconds: (Date.now() - startedMs) / 1000 });
}
