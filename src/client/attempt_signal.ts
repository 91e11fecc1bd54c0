/**
 * The abort signal of one attempt: fires when the attempt's deadline passes or the
 * caller's own signal aborts, and tells the two apart. Built by hand rather than with
 * `AbortSignal.any`/`timeout` so the timer is always cleared (no stray timers in
 * tests, in Workers or at process exit).
 *
 * @module
 */

/** One attempt's signal and how to end it. */
export interface AttemptSignal {
  /** Aborts on the deadline or when the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** True once the deadline passed (as opposed to the caller aborting). */
  timedOut(): boolean;
  /** Clears the timer and the link to the caller's signal. Call exactly once. */
  dispose(): void;
}

/** A signal that aborts after `timeoutMs` or when `outer` aborts. */
export function attemptSignal(timeoutMs: number, outer?: AbortSignal): AttemptSignal {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`attempt timed out after ${timeoutMs} ms`, "TimeoutError"));
  }, timeoutMs);
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => expired,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    },
  };
}
