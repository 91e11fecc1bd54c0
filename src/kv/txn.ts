/**
 * The rules of a transaction: its validation (shared by the HTTP boundary and by
 * apply, which refuses a bad entry instead of throwing) and compare semantics. The
 * store executes it (`store.ts`), at one revision.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import { canonicalLeaseId, parseLeaseId } from "./leases.ts";
import { type KvLimits, validateKey, validatePrefix, validateValue } from "./limits.ts";
import type { CompareOp, CompareTarget, TxnCompare, TxnOp, TxnRequest } from "./txn_types.ts";
import type { KeyValue } from "./types.ts";

/** Most compares in one transaction. */
export const MAX_TXN_COMPARES = 128;
/** Most operations in one branch. */
export const MAX_TXN_OPS = 128;
/** Most keys a `list` operation returns. */
export const MAX_TXN_LIST_LIMIT = 1_000;
/** Page size of a `list` operation without `limit`. */
export const DEFAULT_TXN_LIST_LIMIT = 100;

const TARGETS: ReadonlySet<string> = new Set<CompareTarget>([
  "value",
  "version",
  "createRevision",
  "modRevision",
  "lease",
]);
const OPS: ReadonlySet<string> = new Set<CompareOp>(["=", "!=", "<", ">"]);

/**
 * Validates a transaction and returns a fresh copy holding only known fields. Throws
 * `bad_request` (or `too_large`) with a message naming the offending part.
 */
export function checkTxn(txn: unknown, limits: KvLimits): TxnRequest {
  if (!isRecord(txn)) bad("a transaction is an object");
  const compare = listOf(txn.compare, "compare", MAX_TXN_COMPARES);
  const success = listOf(txn.success, "success", MAX_TXN_OPS);
  const failure = listOf(txn.failure, "failure", MAX_TXN_OPS);
  const out: TxnRequest = {
    compare: compare.map((c, i) => checkCompare(c, `compare[${i}]`, limits)),
    success: success.map((o, i) => checkOp(o, `success[${i}]`, limits)),
    failure: failure.map((o, i) => checkOp(o, `failure[${i}]`, limits)),
  };
  checkOneWritePerKey(out.success, "success");
  checkOneWritePerKey(out.failure, "failure");
  return out;
}

/** True when neither branch writes: such a transaction needs no log entry. */
export function isReadOnlyTxn(txn: TxnRequest): boolean {
  return [...txn.success, ...txn.failure].every((o) => o.op === "get" || o.op === "list");
}

/** Whether `compare` holds for the key's record (null: the key is missing). */
export function compareHolds(kv: KeyValue | null, compare: TxnCompare): boolean {
  switch (compare.target) {
    case "value":
      // A missing key has no value: every comparison with it is false.
      return kv !== null && holds(compareBytes(kv.value, compare.value), compare.op);
    case "version":
    case "createRevision":
    case "modRevision":
      return holds((kv?.[compare.target] ?? 0) - compare.value, compare.op);
    case "lease":
      return holds(leaseNumber(kv?.lease ?? null) - leaseNumber(compare.value), compare.op);
  }
}

function holds(order: number, op: CompareOp): boolean {
  switch (op) {
    case "=":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case ">":
      return order > 0;
  }
}

function leaseNumber(id: string | null): number {
  return id === null ? 0 : parseLeaseId(id) ?? 0;
}

/** Byte order of two byte strings. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function checkCompare(c: unknown, where: string, limits: KvLimits): TxnCompare {
  if (!isRecord(c)) bad(`${where} must be an object`);
  const key = checkedKey(c.key, `${where}.key`, limits);
  if (typeof c.target !== "string" || !TARGETS.has(c.target)) {
    bad(`${where}.target must be one of ${[...TARGETS].join(", ")}`);
  }
  if (typeof c.op !== "string" || !OPS.has(c.op)) bad(`${where}.op must be one of =, !=, <, >`);
  const op = c.op as CompareOp;
  switch (c.target as CompareTarget) {
    case "value":
      if (!(c.value instanceof Uint8Array)) bad(`${where}.value must be a value`);
      validateValue(c.value, limits.maxValueBytes);
      return { key, target: "value", op, value: new Uint8Array(c.value) };
    case "lease":
      if (c.value !== null) canonicalLeaseId(c.value, `${where}.value`);
      return {
        key,
        target: "lease",
        op,
        value: c.value === null ? null : canonicalLeaseId(c.value),
      };
    default: {
      const target = c.target as "version" | "createRevision" | "modRevision";
      if (!Number.isSafeInteger(c.value) || (c.value as number) < 0) {
        bad(`${where}.value must be a non-negative integer for target ${target}`);
      }
      return { key, target, op, value: c.value as number };
    }
  }
}

function checkOp(o: unknown, where: string, limits: KvLimits): TxnOp {
  if (!isRecord(o) || typeof o.op !== "string") bad(`${where} must be an operation`);
  switch (o.op) {
    case "put": {
      const key = checkedKey(o.key, `${where}.key`, limits);
      if (!(o.value instanceof Uint8Array)) bad(`${where}.value must be a value`);
      validateValue(o.value, limits.maxValueBytes);
      const lease = o.lease === null || o.lease === undefined
        ? null
        : canonicalLeaseId(o.lease, `${where}.lease`);
      return { op: "put", key, value: new Uint8Array(o.value), lease };
    }
    case "delete":
      return { op: "delete", key: checkedKey(o.key, `${where}.key`, limits) };
    case "get":
      return { op: "get", key: checkedKey(o.key, `${where}.key`, limits) };
    case "deletePrefix": {
      validatePrefix(o.prefix, limits.maxKeyBytes);
      // As DELETE /v1/kv refuses an empty prefix without all=true: one typo must not
      // wipe the store from inside a transaction.
      if (o.prefix === "") bad(`${where}.prefix must not be empty`);
      return { op: "deletePrefix", prefix: o.prefix as string };
    }
    case "list": {
      validatePrefix(o.prefix, limits.maxKeyBytes);
      const limit = (o.limit ?? DEFAULT_TXN_LIST_LIMIT) as number;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_TXN_LIST_LIMIT) {
        bad(`${where}.limit must be an integer in 1..${MAX_TXN_LIST_LIMIT}`);
      }
      return { op: "list", prefix: o.prefix as string, limit };
    }
  }
  return bad(`${where}: unknown operation ${JSON.stringify(o.op)}`);
}

/** A key written twice, or written under a deleted prefix, has no single outcome: 400. */
function checkOneWritePerKey(ops: TxnOp[], branch: string): void {
  const keys = new Set<string>();
  const prefixes: string[] = [];
  for (const o of ops) {
    if (o.op === "put" || o.op === "delete") {
      if (keys.has(o.key)) bad(`${branch} writes key ${JSON.stringify(o.key)} twice`);
      keys.add(o.key);
    } else if (o.op === "deletePrefix") {
      for (const p of prefixes) {
        if (p.startsWith(o.prefix) || o.prefix.startsWith(p)) {
          bad(
            `${branch} deletes overlapping prefixes ${JSON.stringify(p)} and ${
              JSON.stringify(o.prefix)
            }`,
          );
        }
      }
      prefixes.push(o.prefix);
    }
  }
  for (const key of keys) {
    const p = prefixes.find((p) => key.startsWith(p));
    if (p !== undefined) {
      bad(
        `${branch} writes key ${JSON.stringify(key)} and deletes its prefix ${JSON.stringify(p)}`,
      );
    }
  }
}

function checkedKey(key: unknown, what: string, limits: KvLimits): string {
  if (typeof key !== "string") bad(`${what} must be a string`);
  validateKey(key, limits.maxKeyBytes);
  return key;
}

function listOf(value: unknown, what: string, max: number): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) bad(`${what} must be an array`);
  if (value.length > max) bad(`${what} has ${value.length} entries; the limit is ${max}`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function bad(message: string): never {
  throw new RaftkvError("bad_request", message);
}
