/**
 * `POST /v1/txn`: a multi-key transaction (etcd's shape), applied atomically at one
 * revision. A transaction that writes in neither branch is served by the read index
 * (`?consistency=` as for GET) without a log entry, and a read token may send it; any
 * other goes to the leader and needs a read-write token.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { RaftkvError } from "../../errors.ts";
import { isReadOnlyTxn } from "../../kv/txn.ts";
import type { TxnResult } from "../../kv/txn_types.ts";
import { requireScope } from "../auth.ts";
import { readBodyLimited } from "../body.ts";
import { errorResponse, methodNotAllowed } from "../errors.ts";
import { forwardIfNotLeader } from "../forward.ts";
import type { NodeApi } from "../node_api.ts";
import { readWithDeadline, writeWithDeadline } from "../node_calls.ts";
import type { HttpOptions } from "../options.ts";
import { parseTxnBody, renderTxnResult } from "../txn_body.ts";
import {
  parseConsistency,
  parseIdempotencyKey,
  queryParam,
  refuseUnknownParams,
} from "../validate.ts";
import { REVISION_HEADER } from "./kv.ts";

/**
 * Largest transaction body: one value and one key of the configured limits, so the
 * encoded entry (CBOR is no bigger than the JSON) stays within what apply accepts.
 */
export function maxTxnBodyBytes(options: HttpOptions): number {
  return options.maxValueBytes + options.maxKeyBytes;
}

/** The router for transactions; mount with `app.route("/v1", txnRoutes(node, options))`. */
export function txnRoutes(node: NodeApi, options: HttpOptions): Hono {
  return new Hono()
    .post("/txn", (c) => txn(c, node, options))
    .all("/txn", methodNotAllowed(["POST"]));
}

async function txn(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  refuseUnknownParams(c.req.url, ["consistency"]);
  const idempotencyKey = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const consistency = parseConsistency(queryParam(c.req.url, "consistency"));
  const body = await readBodyLimited(c.req.raw, maxTxnBodyBytes(options));
  const request = parseTxnBody(body, options);
  let result: TxnResult;
  const readOnly = isReadOnlyTxn(request);
  // A read token was let in (the path alone cannot say); a transaction that writes needs more.
  if (!readOnly) requireScope(c.req.raw, options.auth, "readwrite", "a transaction that writes");
  if (readOnly) {
    result = await readWithDeadline(
      options.requestTimeoutMs,
      (signal) => node.readTxn(request, consistency, signal),
    );
  } else {
    const forwarded = await forwardIfNotLeader(c.req.raw, node, body, options);
    if (forwarded !== null) return forwarded;
    const applied = await writeWithDeadline(
      node,
      { op: "txn", txn: request },
      idempotencyKey,
      options.requestTimeoutMs,
    );
    if (!applied.ok) return errorResponse(c, new RaftkvError(applied.code, applied.message));
    if (applied.value === null || !("succeeded" in applied.value)) {
      throw new RaftkvError(
        idempotencyKey === null ? "internal" : "conflict",
        `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for a different write`,
      );
    }
    result = applied.value;
  }
  return c.json(renderTxnResult(result), 200, { [REVISION_HEADER]: String(result.revision) });
}
