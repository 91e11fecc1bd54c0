/**
 * Calls into the node with the request deadline attached, turning a passed deadline
 * into the right user-facing error: a write's fate is then unknown (504), a read is
 * simply unavailable (503) and safe to retry.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import type { ApplyResult, KvCommand } from "../kv/types.ts";
import type { NodeApi } from "./node_api.ts";

/** Deadline signal for one request: the timeout, or the client going away. */
export function requestSignal(request: Request, timeoutMs: number): AbortSignal {
  return AbortSignal.any([AbortSignal.timeout(timeoutMs), request.signal]);
}

/** Proposes `command` and waits for its result, within `timeoutMs`. */
export async function writeWithDeadline(
  node: NodeApi,
  request: Request,
  command: KvCommand,
  idempotencyKey: string | null,
  timeoutMs: number,
): Promise<ApplyResult> {
  const signal = requestSignal(request, timeoutMs);
  try {
    return await node.write(command, { idempotencyKey, signal });
  } catch (thrown) {
    if (thrown instanceof RaftkvError || !signal.aborted) throw thrown;
    throw new RaftkvError(
      "outcome_unknown",
      `the write did not complete within ${timeoutMs} ms; it may or may not have been applied`,
    );
  }
}

/** Runs a read with the request deadline; a passed deadline becomes `unavailable`. */
export async function readWithDeadline<T>(
  request: Request,
  timeoutMs: number,
  read: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const signal = requestSignal(request, timeoutMs);
  try {
    return await read(signal);
  } catch (thrown) {
    if (thrown instanceof RaftkvError || !signal.aborted) throw thrown;
    throw new RaftkvError("unavailable", `the read did not complete within ${timeoutMs} ms`);
  }
}
