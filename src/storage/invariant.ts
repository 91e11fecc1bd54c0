/**
 * A cheap assertion for hot paths: `node:assert/strict` costs microseconds per call,
 * which dominated opening a million-record log. A failure is a bug, never a user error.
 *
 * @module
 */

/** Thrown when a storage invariant does not hold (a bug). */
export class InvariantError extends Error {
  /** Names the broken invariant. */
  constructor(message: string) {
    super(`storage invariant violated: ${message}`);
    this.name = "InvariantError";
  }
}

/** Throws {@link InvariantError} with `message` unless `condition` holds. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
