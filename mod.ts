/**
 * raftkv: a Raft-replicated key-value store for Deno, built for edge workloads.
 *
 * This module is the public API: types shared with the HTTP API. It imports no
 * `Deno.*` and nothing server-side, so it runs on Deno, Bun, Node, browsers and Workers.
 *
 * @module
 */

export type { ErrorCode } from "./src/errors.ts";
export { RaftkvError } from "./src/errors.ts";
export type { Consistency, KeyValue, PutResult, WatchEvent } from "./src/kv/types.ts";
