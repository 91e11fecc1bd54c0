/**
 * The shapes of a transaction (etcd's Txn, as `POST /v1/txn` takes it): compares, the
 * operations of each branch, and their typed results.
 *
 * @module
 */

import type { LeaseRef } from "./lease_id.ts";
import type { Consistency, ListItem } from "./types.ts";

/**
 * How a compare tests its key. `<` and `>` compare values byte by byte.
 *
 * @example
 * ```ts
 * import type { CompareOp } from "./mod.ts";
 * const older: CompareOp = "<";
 * ```
 */
export type CompareOp = "=" | "!=" | "<" | ">";

/**
 * One condition of a transaction. A missing key has version, createRevision and
 * modRevision 0 and lease null, and its value compares false under every op.
 *
 * @example
 * ```ts
 * import type { TxnCompare } from "./mod.ts";
 * const absent: TxnCompare = { key: "jobs/7", target: "version", op: "=", value: 0 };
 * const holds: TxnCompare = { key: "locks/a/1f", target: "createRevision", op: "=", value: 42 };
 * ```
 */
export type TxnCompare =
  | { key: string; target: "value"; op: CompareOp; value: string | Uint8Array }
  | {
    key: string;
    target: "version" | "createRevision" | "modRevision";
    op: CompareOp;
    value: number;
  }
  | { key: string; target: "lease"; op: CompareOp; value: LeaseRef | null };

/**
 * One operation of a transaction branch. At most one write per key in a branch.
 *
 * @example
 * ```ts
 * import type { TxnOp } from "./mod.ts";
 * const ops: TxnOp[] = [
 *   { put: { key: "a", value: "1" } },
 *   { delete: { key: "b" } },
 *   { get: { key: "c" } },
 *   { list: { prefix: "jobs/", limit: 10 } },
 * ];
 * ```
 */
export type TxnOp =
  | { put: { key: string; value: string | Uint8Array; lease?: LeaseRef } }
  | { delete: { key: string } }
  | { deletePrefix: { prefix: string } }
  | { get: { key: string } }
  | { list: { prefix: string; limit?: number } };

/**
 * The result of one executed operation, in the order of the branch.
 *
 * @example
 * ```ts
 * import type { TxnOpResult } from "./mod.ts";
 * function show(result: TxnOpResult): string {
 *   if ("put" in result) return `put at ${result.put.modRevision}`;
 *   if ("get" in result) return result.get.kv?.text() ?? "missing";
 *   return "other";
 * }
 * ```
 */
export type TxnOpResult =
  | { put: { key: string; createRevision: number; modRevision: number; version: number } }
  | { delete: { key: string; deleted: boolean } }
  | { deletePrefix: { deleted: number } }
  | { get: { kv: ListItem | null } }
  | { list: { items: ListItem[]; more: boolean } };

/**
 * A transaction: if every compare holds, run `success`, else `failure`.
 *
 * @example
 * ```ts
 * import type { TxnRequest } from "./mod.ts";
 * const move: TxnRequest = {
 *   compare: [{ key: "a", target: "value", op: "=", value: "1" }],
 *   success: [{ put: { key: "a", value: "2" } }, { delete: { key: "b" } }],
 *   failure: [{ get: { key: "a" } }],
 * };
 * ```
 */
export interface TxnRequest {
  compare?: TxnCompare[];
  success?: TxnOp[];
  failure?: TxnOp[];
}

/**
 * What a transaction did: which branch ran, at which revision, with one result per op.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { succeeded, revision } = await kv.txn({ success: [{ put: { key: "a", value: "1" } }] });
 * ```
 */
export interface TxnResult {
  /** True when every compare held (the success branch ran). */
  succeeded: boolean;
  /** The store revision after the transaction (unchanged when it wrote nothing). */
  revision: number;
  /** One result per executed operation, in order. */
  results: TxnOpResult[];
}

/**
 * Options of `txn`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.txn({ success: [{ get: { key: "a" } }] }, { consistency: "lease" });
 * ```
 */
export interface TxnOptions {
  /** Exactly-once key sent on every attempt of a writing transaction; random by default. */
  idempotencyKey?: string;
  /** Freshness of a read-only transaction (default `linearizable`); ignored for writes. */
  consistency?: Consistency;
  /** Aborts the call; a write already sent may still be applied. */
  signal?: AbortSignal;
}
