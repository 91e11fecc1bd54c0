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
import { deadlinesOf } from "./deadlines.ts";

/**
 * Deadline signal for one request. The client's own signal is left out on purpose: a
 * proposed change goes on whether or not the client waits for it.
 * The request parameter stays so callers need not change if that is revisited.
 */
export function requestSignal(_request: Request, timeoutMs: number): AbortSignal {
  // Admin calls are rare enough for a timer of their own.
  return AbortSignal.timeout(timeoutMs);
}

/** Proposes `command` and waits for its result, within `timeoutMs`. */
export async function writeWithDeadline(
  node: NodeApi,
  command: KvCommand,
  idempotencyKey: string | null,
  timeoutMs: number,
): Promise<ApplyResult> {
  const { signal, deadline } = deadlinesOf(timeoutMs).signal();
  try {
    return await node.write(command, { idempotencyKey, signal });
  } catch (thrown) {
    if (thrown instanceof RaftkvError || !signal.aborted) throw thrown;
    throw new RaftkvError(
      "outcome_unknown",
      `the write did not complete within ${timeoutMs} ms; it may or may not have been applied`,
    );
  } finally {
    deadline.cancel();
  }
}

/** Runs a read with the request deadline; a passed deadline becomes `unavailable`. */
export async function readWithDeadline<T>(
  timeoutMs: number,
  read: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { signal, deadline } = deadlinesOf(timeoutMs).signal();
  try {
    return await read(signal);
  } catch (thrown) {
    if (thrown instanceof RaftkvError || !signal.aborted) throw thrown;
    throw new RaftkvError("unavailable", `the read did not complete within ${timeoutMs} ms`);
  } finally {
    deadline.cancel();
  }
}
