/**
 * kv's name for the one assertion helper of server code (`src/assert.ts`): the same
 * function, throwing the same `AssertionFailure`. A failure is a bug, never a user
 * error. New code may import `assert` from `src/assert.ts` directly.
 *
 * @module
 */

export { assert as invariant } from "../assert.ts";
