/**
 * Data shapes of a multi-key transaction (etcd's `Txn`): compares, then the operations
 * of the branch they select, applied at one revision. Types only; the rules are in
 * `txn.ts`.
 *
 * @module
 */

import type { KeyValue } from "./types.ts";

/** What a compare looks at. */
export type CompareTarget = "value" | "version" | "createRevision" | "modRevision" | "lease";

/** How a compare compares. */
export type CompareOp = "=" | "!=" | "<" | ">";

/** One condition on one key. A missing key has version/revisions 0 and lease null. */
export type TxnCompare =
  | { key: string; target: "value"; op: CompareOp; value: Uint8Array }
  | {
    key: string;
    target: "version" | "createRevision" | "modRevision";
    op: CompareOp;
    value: number;
  }
  | { key: string; target: "lease"; op: CompareOp; value: string | null };

/** One operation of a branch. */
export type TxnOp =
  | { op: "put"; key: string; value: Uint8Array; lease: string | null }
  | { op: "delete"; key: string }
  | { op: "deletePrefix"; prefix: string }
  | { op: "get"; key: string }
  | { op: "list"; prefix: string; limit: number };

/** A whole transaction. */
export interface TxnRequest {
  compare: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

/** The result of one executed operation, in branch order. */
export type TxnOpResult =
  | { op: "put"; key: string; createRevision: number; modRevision: number; version: number }
  | { op: "delete"; key: string; deleted: boolean }
  | { op: "deletePrefix"; deleted: number }
  | { op: "get"; kv: KeyValue | null }
  | { op: "list"; items: KeyValue[]; more: boolean };

/** What a transaction did. */
export interface TxnResult {
  /** Whether every compare held (the success branch ran). */
  succeeded: boolean;
  /** Store revision after the transaction (unchanged if it wrote nothing). */
  revision: number;
  results: TxnOpResult[];
}
