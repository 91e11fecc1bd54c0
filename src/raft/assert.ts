/**
 * A tiny assertion helper for the pure core, which may not import `node:assert`.
 * An assertion failure in the core is a bug, never a user error.
 *
 * @module
 */

/** Thrown when an internal invariant of the consensus core does not hold. */
export class AssertionError extends Error {
  /** Creates the error with the failed invariant's description. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** Throws {@link AssertionError} with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
