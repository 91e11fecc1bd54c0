/**
 * The one assertion helper of the server code. It lives in the pure core because
 * `src/raft/` may import only `src/raft/`; everything else imports it through
 * `src/assert.ts`.
 *
 * An assertion states what must hold if the code is correct: a failure is a bug,
 * never a user error, and the node stops rather than run on with broken state.
 * Keep each assertion to one condition (split `a && b` into two) so the message
 * names exactly what broke, and keep hot-path assertions O(1). On hot paths pass a
 * constant message: a template literal is built (and allocates) on every call, even
 * when the condition holds.
 *
 * It costs a branch, not the microseconds `node:assert` spends per call.
 *
 * @module
 */

/** Thrown when an invariant, precondition or postcondition does not hold: a bug. */
export class AssertionFailure extends Error {
  /** Creates the error with the failed assertion's description. */
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = "AssertionFailure";
  }
}

/** Throws {@link AssertionFailure} with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}

/** True when `e` is an {@link AssertionFailure}: a bug the node must treat as fatal. */
export function isAssertionFailure(e: unknown): e is AssertionFailure {
  return e instanceof AssertionFailure;
}
