/**
 * The JSON form of a transaction (`POST /v1/txn`, etcd's shape) to and from the
 * store's {@link TxnRequest} / {@link TxnResult}. Values travel as UTF-8 text
 * (`value`) or base64 (`valueBase64`); everything else is checked once, by `checkTxn`.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import { atPath, checkTxn } from "../kv/txn.ts";
import type { KvLimits } from "../kv/limits.ts";
import type { TxnOpResult, TxnRequest, TxnResult } from "../kv/txn_types.ts";
import { type KeyValueJson, renderKeyValue } from "./render.ts";
import { checkKey } from "./validate.ts";

const encoder = new TextEncoder();
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A transaction's JSON answer. */
export interface TxnResultJson {
  succeeded: boolean;
  revision: number;
  results: Record<string, unknown>[];
}

/**
 * Parses and validates a transaction body; throws 400 (or 413) whose message starts with
 * the path of what is wrong (`body`, `compare[0].op`, `success[2].put.key`, ...).
 */
export function parseTxnBody(body: Uint8Array, limits: KvLimits): TxnRequest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return bad("body", "must be JSON (UTF-8): a transaction object");
  }
  const fields = record(json, "body");
  const { compare, success, failure, ...extra } = fields;
  refuseExtra(extra, "", "compare, success and failure");
  const txn = checkTxn({
    compare: mapArray(compare, (c, where) => fromCompare(c, `compare${where}`)),
    success: mapArray(success, (o, where) => fromOp(o, `success${where}`)),
    failure: mapArray(failure, (o, where) => fromOp(o, `failure${where}`)),
  }, limits);
  // Keys also obey the HTTP rules (no NUL), as keys written by PUT do.
  txn.compare.forEach((c, i) => keyAt(c.key, "key", `compare[${i}].key`, limits));
  for (const [branch, ops] of [["success", txn.success], ["failure", txn.failure]] as const) {
    ops.forEach((o, i) => {
      const at = `${branch}[${i}].${o.op}`;
      if ("key" in o) keyAt(o.key, "key", `${at}.key`, limits);
      else keyAt(o.prefix, "prefix", `${at}.prefix`, limits);
    });
  }
  return txn;
}

/** Renders a transaction result as the API answers it. */
export function renderTxnResult(result: TxnResult): TxnResultJson {
  return {
    succeeded: result.succeeded,
    revision: result.revision,
    results: result.results.map(renderOpResult),
  };
}

function renderOpResult(r: TxnOpResult): Record<string, unknown> {
  switch (r.op) {
    case "put":
      return {
        put: {
          key: r.key,
          createRevision: r.createRevision,
          modRevision: r.modRevision,
          version: r.version,
        },
      };
    case "delete":
      return { delete: { key: r.key, deleted: r.deleted } };
    case "deletePrefix":
      return { deletePrefix: { deleted: r.deleted } };
    case "get":
      return { get: { kv: r.kv === null ? null : renderKeyValue(r.kv) } };
    case "list":
      return { list: { items: r.items.map(renderKeyValue) as KeyValueJson[], more: r.more } };
  }
}

const OPERATIONS = "put, delete, deletePrefix, get or list";

function keyAt(key: string, what: string, path: string, limits: KvLimits): void {
  atPath(path, () => checkKey(key, what, limits.maxKeyBytes));
}

function fromCompare(c: unknown, at: string): unknown {
  const fields = record(c, at);
  const { key, target, op, value, valueBase64, ...extra } = fields;
  refuseExtra(extra, at, "key, target, op and value (or valueBase64)");
  if (target === "value") return { key, target, op, value: valueOf(value, valueBase64, at) };
  if (valueBase64 !== undefined) bad(`${at}.valueBase64`, "is only for target value");
  if (target === "lease" && value === undefined) return { key, target, op, value: null };
  return { key, target, op, value };
}

function fromOp(o: unknown, where: string): unknown {
  const fields = record(o, where);
  const names = Object.keys(fields);
  if (names.length !== 1) {
    bad(where, `must name exactly one operation (${OPERATIONS}), not ${names.length}`);
  }
  const name = names[0] as string;
  const at = `${where}.${name}`;
  const args = record(fields[name], at);
  switch (name) {
    case "put": {
      const { key, value, valueBase64, lease, ...extra } = args;
      refuseExtra(extra, at, "key, value (or valueBase64) and lease");
      return { op: "put", key, value: valueOf(value, valueBase64, at), lease: lease ?? null };
    }
    case "delete":
    case "get": {
      const { key, ...extra } = args;
      refuseExtra(extra, at, "key");
      return { op: name, key };
    }
    case "deletePrefix": {
      const { prefix, ...extra } = args;
      refuseExtra(extra, at, "prefix");
      return { op: name, prefix };
    }
    case "list": {
      const { prefix, limit, ...extra } = args;
      refuseExtra(extra, at, "prefix and limit");
      return { op: name, prefix: prefix ?? "", limit };
    }
  }
  return bad(at, `unknown operation; one of ${OPERATIONS}`);
}

/** `value` (UTF-8 text) or `valueBase64`, exactly one, as bytes. */
function valueOf(value: unknown, valueBase64: unknown, at: string): Uint8Array {
  if ((value === undefined) === (valueBase64 === undefined)) {
    bad(`${at}.value`, "give exactly one of value (UTF-8 text) and valueBase64");
  }
  if (value !== undefined) {
    if (typeof value !== "string") bad(`${at}.value`, "must be a string");
    if (!value.isWellFormed()) bad(`${at}.value`, "is not valid UTF-8 (a lone surrogate)");
    return encoder.encode(value);
  }
  if (typeof valueBase64 !== "string" || !BASE64.test(valueBase64) || valueBase64.length % 4) {
    bad(`${at}.valueBase64`, "must be base64");
  }
  try {
    return Uint8Array.from(atob(valueBase64), (ch) => ch.charCodeAt(0));
  } catch {
    return bad(`${at}.valueBase64`, "must be base64");
  }
}

function mapArray(value: unknown, f: (item: unknown, where: string) => unknown): unknown {
  if (!Array.isArray(value)) return value; // checkTxn names a non-array
  return value.map((item, i) => f(item, `[${i}]`));
}

function record(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    bad(at, "must be an object");
  }
  return value as Record<string, unknown>;
}

function refuseExtra(extra: Record<string, unknown>, at: string, known: string): void {
  const names = Object.keys(extra);
  if (names.length === 0) return;
  const path = at === "" ? names[0] as string : `${at}.${names[0]}`;
  bad(path, `unknown field; the fields are ${known}`);
}

function bad(path: string, message: string): never {
  throw new RaftkvError("bad_request", `${path}: ${message}`);
}
