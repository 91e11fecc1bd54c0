/**
 * `txn`: one `POST /v1/txn`, applied atomically at one revision. The request is checked
 * and encoded here (strings as UTF-8 `value`, bytes as `valueBase64`), and the answer is
 * checked field by field into typed results. A transaction that writes carries an
 * Idempotency-Key and retries like a put; one that only reads retries like a get.
 *
 * @module
 */

import { readJson } from "./body.ts";
import { call, type CallContext } from "./call.ts";
import { BadRequest } from "./errors.ts";
import { errorFromResponse } from "./http_error.ts";
import { JsonObject, malformed } from "./json_shape.ts";
import { checkKey } from "./key_path.ts";
import { checkConsistency, writeHeaders } from "./keys.ts";
import { leaseIdOf } from "./lease_id.ts";
import { MAX_LIST_PAGE_SIZE, MAX_RESPONSE_BYTES, MAX_TXN_COMPARES, MAX_TXN_OPS } from "./limits.ts";
import { toListItem } from "./list.ts";
import type {
  TxnCompare,
  TxnOp,
  TxnOpResult,
  TxnOptions,
  TxnRequest,
  TxnResult,
} from "./txn_types.ts";
import { toBytes } from "./values.ts";

const OPS: ReadonlySet<string> = new Set(["=", "!=", "<", ">"]);
const NUMERIC_TARGETS: ReadonlySet<string> = new Set(["version", "createRevision", "modRevision"]);

/** Runs one transaction. */
export async function runTxn(
  ctx: CallContext,
  request: TxnRequest,
  options: TxnOptions = {},
): Promise<TxnResult> {
  const compare = request.compare ?? [];
  const success = request.success ?? [];
  const failure = request.failure ?? [];
  if (compare.length > MAX_TXN_COMPARES) {
    bad("compare", `has ${compare.length} compares; the limit is ${MAX_TXN_COMPARES}`);
  }
  for (const [name, branch] of [["success", success], ["failure", failure]] as const) {
    if (branch.length > MAX_TXN_OPS) {
      bad(name, `has ${branch.length} operations; the limit is ${MAX_TXN_OPS}`);
    }
  }
  // Refusals name the position as the server's do: `success[2].put.key: ...`.
  const body = {
    compare: compare.map((c, i) => encodeCompare(c, `compare[${i}]`)),
    success: success.map((o, i) => encodeOp(o, `success[${i}]`)),
    failure: failure.map((o, i) => encodeOp(o, `failure[${i}]`)),
  };
  const writes = [...success, ...failure].some(isWrite);
  const consistency = options.consistency ?? "linearizable";
  checkConsistency(consistency);
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (writes) Object.assign(headers, writeHeaders(options.idempotencyKey));
  return await call(ctx, {
    method: "POST",
    path: writes ? "/v1/txn" : `/v1/txn?consistency=${consistency}`,
    headers,
    body: toBytes(JSON.stringify(body)),
    write: writes,
    startAt: !writes && consistency === "stale" ? "first" : "preferred",
    signal: options.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_RESPONSE_BYTES), "txn answer");
    const succeeded = json.boolean("succeeded");
    const results = json.array("results");
    const branch = succeeded ? success : failure;
    if (results.length !== branch.length) {
      throw malformed(`txn answered ${results.length} results for ${branch.length} operations`);
    }
    return {
      succeeded,
      revision: json.integer("revision"),
      results: results.map((raw, i) => decodeResult(raw, branch[i]!)),
    };
  });
}

function isWrite(op: TxnOp): boolean {
  return "put" in op || "delete" in op || "deletePrefix" in op;
}

function encodeCompare(compare: TxnCompare, at: string): Record<string, unknown> {
  if (typeof compare !== "object" || compare === null) bad(at, "must be an object");
  atPath(`${at}.key`, () => checkKey(compare.key));
  if (!OPS.has(compare.op)) bad(`${at}.op`, "must be one of =, !=, <, >");
  const base = { key: compare.key, target: compare.target, op: compare.op };
  if (compare.target === "value") {
    return { ...base, ...atPath(`${at}.value`, () => encodeValue(compare.value)) };
  }
  if (compare.target === "lease") {
    const value = compare.value;
    return {
      ...base,
      value: value === null ? null : atPath(`${at}.value`, () => leaseIdOf(value)),
    };
  }
  if (NUMERIC_TARGETS.has(compare.target)) {
    if (!Number.isSafeInteger(compare.value) || compare.value < 0) {
      bad(`${at}.value`, `must be a non-negative integer for target ${compare.target}`);
    }
    return { ...base, value: compare.value };
  }
  return bad(`${at}.target`, "must be one of value, version, createRevision, modRevision, lease");
}

function encodeOp(op: TxnOp, where: string): Record<string, unknown> {
  if (typeof op !== "object" || op === null) bad(where, "must be an object");
  if ("put" in op) {
    const { key, value, lease } = op.put;
    atPath(`${where}.put.key`, () => checkKey(key));
    return {
      put: {
        key,
        ...atPath(`${where}.put.value`, () => encodeValue(value)),
        ...(lease === undefined
          ? {}
          : { lease: atPath(`${where}.put.lease`, () => leaseIdOf(lease)) }),
      },
    };
  }
  if ("delete" in op) {
    atPath(`${where}.delete.key`, () => checkKey(op.delete.key));
    return { delete: { key: op.delete.key } };
  }
  if ("deletePrefix" in op) {
    if (typeof op.deletePrefix.prefix !== "string") {
      bad(`${where}.deletePrefix.prefix`, "must be a string");
    }
    return { deletePrefix: { prefix: op.deletePrefix.prefix } };
  }
  if ("get" in op) {
    atPath(`${where}.get.key`, () => checkKey(op.get.key));
    return { get: { key: op.get.key } };
  }
  if ("list" in op) {
    const { prefix, limit } = op.list;
    if (typeof prefix !== "string") bad(`${where}.list.prefix`, "must be a string");
    if (
      limit !== undefined &&
      (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_PAGE_SIZE)
    ) {
      bad(`${where}.list.limit`, `must be an integer in 1..${MAX_LIST_PAGE_SIZE}`);
    }
    return { list: limit === undefined ? { prefix } : { prefix, limit } };
  }
  return bad(where, "must name one operation: put, delete, deletePrefix, get or list");
}

/** Throws a client-side BadRequest (nothing was sent) whose message starts with `path`. */
function bad(path: string, message: string): never {
  throw new BadRequest(`${path}: ${message}`, { status: 0 });
}

/** Runs `check`; a BadRequest it throws gets `path: ` in front of its message. */
function atPath<T>(path: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof BadRequest)) throw error;
    throw new BadRequest(`${path}: ${error.message}`, { status: 0, cause: error });
  }
}

/** A value as the JSON body carries it: UTF-8 text as `value`, bytes as `valueBase64`. */
function encodeValue(value: string | Uint8Array): { value: string } | { valueBase64: string } {
  if (typeof value === "string") return { value };
  if (!(value instanceof Uint8Array)) {
    throw new BadRequest("a value must be a string or a Uint8Array", { status: 0 });
  }
  return { valueBase64: base64(value) };
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  const chunkBytes = 0x8000; // String.fromCharCode takes its bytes as arguments
  for (let i = 0; i < bytes.length; i += chunkBytes) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunkBytes));
  }
  return btoa(binary);
}

function decodeResult(raw: unknown, op: TxnOp): TxnOpResult {
  const result = new JsonObject(raw, "txn result");
  if ("put" in op) {
    const put = new JsonObject(result.raw("put"), "txn put result");
    return {
      put: {
        key: put.string("key"),
        createRevision: put.integer("createRevision"),
        modRevision: put.integer("modRevision"),
        version: put.integer("version"),
      },
    };
  }
  if ("delete" in op) {
    const deleted = new JsonObject(result.raw("delete"), "txn delete result");
    return { delete: { key: deleted.string("key"), deleted: deleted.boolean("deleted") } };
  }
  if ("deletePrefix" in op) {
    const deleted = new JsonObject(result.raw("deletePrefix"), "txn deletePrefix result");
    return { deletePrefix: { deleted: deleted.integer("deleted") } };
  }
  if ("get" in op) {
    const got = new JsonObject(result.raw("get"), "txn get result");
    const kv = got.raw("kv");
    return { get: { kv: kv === null || kv === undefined ? null : toListItem(kv) } };
  }
  const list = new JsonObject(result.raw("list"), "txn list result");
  return { list: { items: list.array("items").map(toListItem), more: list.boolean("more") } };
}
