/**
 * A tiny invariant check. The client avoids `node:assert` so it runs unchanged in
 * browsers and Workers; a failure here is a bug in the client, never a user error.
 *
 * @module
 */

/** Throws when `condition` is false: an invariant of the client itself broke. */
export default function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`raftkv client invariant broken: ${message}`);
}
