/**
 * The assertion helper for server code outside the Raft core (storage, kv, transport,
 * node, http). One implementation, in `src/raft/assert.ts` because the core may import
 * nothing outside `src/raft/`; this module is its public home for everyone else.
 * The client (`src/client/`) keeps its own, as it imports nothing from the server.
 *
 * @module
 */

export { assert, AssertionFailure, isAssertionFailure } from "./raft/assert.ts";
