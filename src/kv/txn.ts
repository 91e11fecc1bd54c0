/**
 * The rules of a transaction: its validation (shared by the HTTP boundary and by
 * apply, which refuses a bad entry instead of throwing) and compare semantics. The
 * store executes it (`store.ts`), at one revision.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import { leaseIdOf, parseLeaseId } from "./leases.ts";
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
/**
 * Most bytes the `get` and `list` results of one transaction hold together (see
 * {@link txnReadItemBytes}), unless its first item alone is bigger. A `list` ends early
 * (`more`) at it; a `get` past it refuses the transaction (`too_large`). Without it,
 * 128 reads of a 1 MiB value made a 128 MiB answer, and a remembered result (an
 * `Idempotency-Key`) that large, kept in snapshots, made them unrestorable.
 */
export const MAX_TXN_READ_BYTES = 1024 * 1024;
/** What one result item costs besides its key and value (CBOR field names, numbers). */
export const TXN_RESULT_ITEM_OVERHEAD_BYTES = 192;

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
 * `bad_request` (or `too_large`) whose message starts with the path of the offending
 * part, e.g. `success[2].put.key: key must not be empty`.
 */
export function checkTxn(txn: unknown, limits: KvLimits): TxnRequest {
  if (!isRecord(txn)) bad("txn", "must be an object");
  const compare = listOf(txn.compare, "compare", MAX_TXN_COMPARES, "compares");
  const success = listOf(txn.success, "success", MAX_TXN_OPS, "operations");
  const failure = listOf(txn.failure, "failure", MAX_TXN_OPS, "operations");
  const out: TxnRequest = {
    compare: compare.map((c, i) => checkCompare(c, `compare[${i}]`, limits)),
    success: success.map((o, i) => checkOp(o, `success[${i}]`, limits)),
    failure: failure.map((o, i) => checkOp(o, `failure[${i}]`, limits)),
  };
  checkOneWritePerKey(out.success, "success");
  checkOneWritePerKey(out.failure, "failure");
  return out;
}

/**
 * Runs `check`; a {@link RaftkvError} it throws is thrown again with the same code and
 * `path: ` in front of its message, so a shared validator's refusal names the part of
 * a transaction it refused.
 */
export function atPath<T>(path: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof RaftkvError)) throw error;
    throw new RaftkvError(error.code, `${path}: ${error.message}`, error.retryAfterSeconds);
  }
}

/** Bytes a read record counts against {@link MAX_TXN_READ_BYTES}: its encoded size at most. */
export function txnReadItemBytes(kv: KeyValue): number {
  return kv.key.length * 3 + kv.value.byteLength + TXN_RESULT_ITEM_OVERHEAD_BYTES;
}

/**
 * Upper bound of a transaction result's encoded size under `limits`: the reads (the
 * budget, or one item of the largest key and value), plus one result per write.
 * Snapshots size their chunks by it, since remembered results are kept in them.
 */
export function maxTxnResultBytes(limits: KvLimits): number {
  const largestItem = limits.maxKeyBytes * 3 + limits.maxValueBytes +
    TXN_RESULT_ITEM_OVERHEAD_BYTES;
  const writes = MAX_TXN_OPS * (limits.maxKeyBytes + TXN_RESULT_ITEM_OVERHEAD_BYTES);
  return MAX_TXN_READ_BYTES + largestItem + writes;
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
  if (!isRecord(c)) bad(where, "must be an object");
  const key = checkedKey(c.key, `${where}.key`, limits);
  if (typeof c.target !== "string" || !TARGETS.has(c.target)) {
    bad(`${where}.target`, `must be one of ${[...TARGETS].join(", ")}`);
  }
  if (typeof c.op !== "string" || !OPS.has(c.op)) bad(`${where}.op`, "must be one of =, !=, <, >");
  const op = c.op as CompareOp;
  switch (c.target as CompareTarget) {
    case "value":
      return { key, target: "value", op, value: checkedValue(c.value, `${where}.value`, limits) };
    case "lease":
      return {
        key,
        target: "lease",
        op,
        value: c.value === null ? null : checkedLeaseId(c.value, `${where}.value`),
      };
    default: {
      const target = c.target as "version" | "createRevision" | "modRevision";
      if (!Number.isSafeInteger(c.value) || (c.value as number) < 0) {
        bad(`${where}.value`, `must be a non-negative integer for target ${target}`);
      }
      return { key, target, op, value: c.value as number };
    }
  }
}

function checkOp(o: unknown, where: string, limits: KvLimits): TxnOp {
  if (!isRecord(o) || typeof o.op !== "string") bad(where, "must be an operation");
  const at = `${where}.${o.op}`;
  switch (o.op) {
    case "put": {
      const key = checkedKey(o.key, `${at}.key`, limits);
      const value = checkedValue(o.value, `${at}.value`, limits);
      const lease = o.lease === null || o.lease === undefined
        ? null
        : checkedLeaseId(o.lease, `${at}.lease`);
      return { op: "put", key, value, lease };
    }
    case "delete":
      return { op: "delete", key: checkedKey(o.key, `${at}.key`, limits) };
    case "get":
      return { op: "get", key: checkedKey(o.key, `${at}.key`, limits) };
    case "deletePrefix": {
      atPath(`${at}.prefix`, () => validatePrefix(o.prefix, limits.maxKeyBytes));
      // As DELETE /v1/kv refuses an empty prefix without all=true: one typo must not
      // wipe the store from inside a transaction.
      if (o.prefix === "") bad(`${at}.prefix`, "must not be empty (it would delete every key)");
      return { op: "deletePrefix", prefix: o.prefix as string };
    }
    case "list": {
      atPath(`${at}.prefix`, () => validatePrefix(o.prefix, limits.maxKeyBytes));
      const limit = (o.limit ?? DEFAULT_TXN_LIST_LIMIT) as number;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_TXN_LIST_LIMIT) {
        bad(`${at}.limit`, `must be an integer in 1..${MAX_TXN_LIST_LIMIT}`);
      }
      return { op: "list", prefix: o.prefix as string, limit };
    }
  }
  return bad(where, `unknown operation ${JSON.stringify(o.op)}`);
}

/**
 * A key written twice, or written under a deleted prefix, has no single outcome: 400,
 * naming the later of the two operations and the position of the earlier one.
 */
function checkOneWritePerKey(ops: TxnOp[], branch: string): void {
  const writers = new Map<string, number>(); // key -> position of the op writing it
  const prefixes: [prefix: string, position: number][] = [];
  ops.forEach((o, i) => {
    const at = `${branch}[${i}].${o.op}`;
    if (o.op === "put" || o.op === "delete") {
      const first = writers.get(o.key);
      if (first !== undefined) {
        bad(
          `${at}.key`,
          `key ${JSON.stringify(o.key)} is written twice (also by ${branch}[${first}]); ` +
            "a branch writes each key at most once",
        );
      }
      writers.set(o.key, i);
      const under = prefixes.find(([p]) => o.key.startsWith(p));
      if (under !== undefined) {
        bad(
          `${at}.key`,
          `key ${JSON.stringify(o.key)} is under prefix ${JSON.stringify(under[0])}, ` +
            `deleted by ${branch}[${under[1]}]`,
        );
      }
    } else if (o.op === "deletePrefix") {
      for (const [p, j] of prefixes) {
        if (p.startsWith(o.prefix) || o.prefix.startsWith(p)) {
          bad(
            `${at}.prefix`,
            `prefix ${JSON.stringify(o.prefix)} overlaps prefix ${JSON.stringify(p)}, ` +
              `deleted by ${branch}[${j}]`,
          );
        }
      }
      for (const [key, j] of writers) {
        if (!key.startsWith(o.prefix)) continue;
        bad(
          `${at}.prefix`,
          `prefix ${JSON.stringify(o.prefix)} covers key ${JSON.stringify(key)}, ` +
            `written by ${branch}[${j}]`,
        );
      }
      prefixes.push([o.prefix, i]);
    }
  });
}

function checkedKey(key: unknown, path: string, limits: KvLimits): string {
  if (typeof key !== "string") bad(path, "must be a string");
  atPath(path, () => validateKey(key, limits.maxKeyBytes));
  return key;
}

function checkedValue(value: unknown, path: string, limits: KvLimits): Uint8Array {
  if (!(value instanceof Uint8Array)) bad(path, "must be a value");
  atPath(path, () => validateValue(value, limits.maxValueBytes));
  return new Uint8Array(value);
}

function checkedLeaseId(id: unknown, path: string): string {
  const n = parseLeaseId(id);
  if (n === null) bad(path, "must be a lease id (lowercase hex, 1-16 digits)");
  return leaseIdOf(n);
}

function listOf(value: unknown, what: string, max: number, items: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) bad(what, "must be an array");
  if (value.length > max) bad(what, `has ${value.length} ${items}; the limit is ${max}`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function bad(path: string, message: string): never {
  throw new RaftkvError("bad_request", `${path}: ${message}`);
}
