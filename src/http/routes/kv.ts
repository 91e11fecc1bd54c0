/**
 * Key routes: `PUT|GET|DELETE /v1/kv/{key}`, `GET /v1/kv` (list) and
 * `DELETE /v1/kv?prefix=` (prefix delete). Mounted under `/v1`.
 *
 * @module
 */

import { assert } from "../../assert.ts";
import { type Context, Hono } from "hono";
import { RaftkvError } from "../../errors.ts";
import type {
  ApplyResult,
  DeletePrefixResult,
  DeleteResult,
  KvCommand,
  PutResult,
} from "../../kv/types.ts";
import { readBodyLimited } from "../body.ts";
import { errorAnswer, methodNotAllowed } from "../errors.ts";
import { withLeaderHeaders } from "../leader_headers.ts";
import { forwardIfNotLeader } from "../forward.ts";
import type { NodeApi } from "../node_api.ts";
import { readWithDeadline, writeWithDeadline } from "../node_calls.ts";
import type { HttpOptions } from "../options.ts";
import { renderKeyValue, renderPutResult } from "../render.ts";
import { canonicalLeaseId } from "../../kv/leases.ts";
import {
  checkKey,
  etag,
  parseConsistency,
  parseIdempotencyKey,
  parseKey,
  parseLimit,
  parsePreconditions,
  parseTtlMs,
  queryParam,
  refuseUnknownParams,
} from "../validate.ts";

/** Path prefix of single-key routes, as the client sends it. */
export const KEY_PATH_PREFIX = "/v1/kv/";

/** Header carrying the store revision a read saw. */
export const REVISION_HEADER = "X-Raftkv-Revision";

/** Query parameters each key route takes; any other answers 400. */
const PUT_PARAMS = ["ttl", "lease"] as const;
const GET_PARAMS = ["consistency"] as const;
const LIST_PARAMS = ["prefix", "after", "limit", "consistency"] as const;
const DELETE_PREFIX_PARAMS = ["prefix", "all"] as const;

/** The signal of reads that never wait (stale ones): nothing ever aborts it. */
const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** Header naming the lease a key is attached to (absent without one). */
export const LEASE_HEADER = "X-Raftkv-Lease";

/** The router for keys; mount it with `app.route("/v1", kvRoutes(node, options))`. */
export function kvRoutes(node: NodeApi, options: HttpOptions): Hono {
  return new Hono()
    .get("/kv", (c) => listKeys(c, node, options))
    .delete("/kv", (c) => deletePrefix(c, node, options))
    .all("/kv", methodNotAllowed(["GET", "HEAD", "DELETE"]))
    .put("/kv/*", (c) => putKey(c.req.raw, node, options))
    .get("/kv/*", (c) => getKey(c.req.raw, node, options))
    .delete("/kv/*", (c) => deleteKey(c.req.raw, node, options))
    .all("/kv/*", methodNotAllowed(["GET", "HEAD", "PUT", "DELETE"]));
}

/** `/<v1>/<kv>/<key>` of a raw path: the route's two segments may be percent-encoded. */
const KEY_PATH = /^\/([^/]*)\/([^/]*)\/(.*)$/s;

/**
 * The key named by the raw (still percent-encoded) request path. The router matched
 * the decoded path, so `/v1/%6Bv/x` lands here too: the route segments are decoded to
 * find where the key starts, and the key itself is decoded exactly once.
 */
function keyOf(request: Request, options: HttpOptions): string {
  const path = pathOf(request.url);
  if (path.startsWith(KEY_PATH_PREFIX)) {
    return parseKey(path.slice(KEY_PATH_PREFIX.length), options.maxKeyBytes);
  }
  const match = KEY_PATH.exec(path);
  const [, version, kv, rawKey] = match ?? [];
  if (
    rawKey === undefined || `/${lenientDecode(version)}/${lenientDecode(kv)}/` !== KEY_PATH_PREFIX
  ) {
    throw new RaftkvError("bad_request", `spell the key route as ${KEY_PATH_PREFIX}{key}`);
  }
  return parseKey(rawKey, options.maxKeyBytes);
}

/** Path characters URL parsing leaves exactly as they are. */
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
/** A segment starting with a dot, plain or percent-encoded: URL parsing may resolve it. */
const DOT_SEGMENT = /\/(\.|%2e)/i;

/**
 * `new URL(url).pathname`, without the cost of a full URL parse on every request when
 * the path holds nothing that parsing would change (no dot segments, only characters
 * that need no escaping).
 */
export function pathOf(url: string): string {
  const scheme = url.indexOf("://");
  const start = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  let end = url.length;
  for (let i = start; i >= 0 && i < url.length; i++) {
    const ch = url.charCodeAt(i);
    if (ch === 0x3f /* ? */ || ch === 0x23 /* # */) {
      end = i;
      break;
    }
  }
  const raw = start < 0 ? "" : url.slice(start, end);
  if (raw !== "" && PLAIN_PATH.test(raw) && !DOT_SEGMENT.test(raw)) return raw;
  return new URL(url).pathname;
}

function lenientDecode(segment: string | undefined): string | undefined {
  try {
    return segment === undefined ? undefined : decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The single-key handlers below take the bare `Request` and build complete answers
 * (leader headers included), so the direct lane (`http/direct.ts`) can serve them
 * without the router and middleware stack, and the router can serve them too.
 */

/** `PUT /v1/kv/{key}`: stores the body as the key's value. */
export async function putKey(
  request: Request,
  node: NodeApi,
  options: HttpOptions,
): Promise<Response> {
  const key = keyOf(request, options);
  refuseUnknownParams(request.url, PUT_PARAMS);
  const ttlMs = parseTtlMs(queryParam(request.url, "ttl"));
  const leaseText = queryParam(request.url, "lease");
  if (leaseText !== undefined && ttlMs !== null) {
    throw new RaftkvError(
      "bad_request",
      "give ttl or lease, not both: a lease decides when the key goes",
    );
  }
  const lease = leaseText === undefined ? null : canonicalLeaseId(leaseText);
  const { ifModRevision, createOnly } = parsePreconditions(
    header(request, "If-Match"),
    header(request, "If-None-Match"),
  );
  const idempotencyKey = parseIdempotencyKey(header(request, "Idempotency-Key"));
  const value = await readBodyLimited(request, options.maxValueBytes);
  const forwarded = await forwardIfNotLeader(request, node, value, options);
  if (forwarded !== null) return forwarded;
  const command: KvCommand = {
    op: "put",
    key,
    value,
    ttlMs,
    ifModRevision,
    createOnly,
    ...(lease === null ? {} : { lease }),
  };
  const result = await writeWithDeadline(
    node,
    command,
    idempotencyKey,
    options.requestTimeoutMs,
  );
  if (!result.ok) return refusal(node, result);
  if (!isPutResult(result.value) || result.value.key !== key) throw reused(idempotencyKey);
  return json(node, renderPutResult(result.value), { ETag: etag(result.value.modRevision) });
}

/** `GET /v1/kv/{key}`: the value as the body, its metadata in headers. */
export async function getKey(
  request: Request,
  node: NodeApi,
  options: HttpOptions,
): Promise<Response> {
  const key = keyOf(request, options);
  refuseUnknownParams(request.url, GET_PARAMS);
  const consistency = parseConsistency(queryParam(request.url, "consistency"));
  // A stale read answers from local state without waiting for anything, so it needs no
  // deadline: skipping the per-request AbortController and timer entry is ~1 µs a read.
  const { kv, revision } = consistency === "stale"
    ? await node.get(key, consistency, NEVER_ABORTED)
    : await readWithDeadline(
      options.requestTimeoutMs,
      (signal) => node.get(key, consistency, signal),
    );
  if (kv === null) {
    const missing = new RaftkvError("not_found", `key ${JSON.stringify(key)} does not exist`);
    return errorAnswer(missing, withLeaderHeaders(node, { [REVISION_HEADER]: String(revision) }));
  }
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    ETag: etag(kv.modRevision),
    [REVISION_HEADER]: String(revision),
    "X-Raftkv-Create-Revision": String(kv.createRevision),
    "X-Raftkv-Version": String(kv.version),
  };
  if (kv.expiresAtMs !== null) {
    headers["X-Raftkv-Expires-At"] = new Date(kv.expiresAtMs).toISOString();
  }
  if (kv.lease !== null) headers[LEASE_HEADER] = kv.lease;
  // No copy: the runtime sends exactly the view's bytes and leaves the buffer attached
  // (tests/http/value_view_test.ts checks both), and stored values are never changed in place.
  return new Response(kv.value as Uint8Array<ArrayBuffer>, { // never shared memory
    status: 200,
    headers: withLeaderHeaders(node, headers),
  });
}

/** `DELETE /v1/kv/{key}`. */
export async function deleteKey(
  request: Request,
  node: NodeApi,
  options: HttpOptions,
): Promise<Response> {
  const key = keyOf(request, options);
  refuseUnknownParams(request.url, []);
  const { ifModRevision, createOnly } = parsePreconditions(
    header(request, "If-Match"),
    undefined,
  );
  assert(!createOnly, "If-None-Match is not read for deletes");
  const idempotencyKey = parseIdempotencyKey(header(request, "Idempotency-Key"));
  const forwarded = await forwardIfNotLeader(request, node, null, options);
  if (forwarded !== null) return forwarded;
  const result = await writeWithDeadline(
    node,
    { op: "delete", key, ifModRevision },
    idempotencyKey,
    options.requestTimeoutMs,
  );
  if (!result.ok) return refusal(node, result);
  if (!isDeleteResult(result.value) || result.value.key !== key) throw reused(idempotencyKey);
  const revisionHeader = { [REVISION_HEADER]: String(result.value.revision) };
  if (!result.value.deleted) {
    const missing = new RaftkvError("not_found", `key ${JSON.stringify(key)} does not exist`);
    return errorAnswer(missing, withLeaderHeaders(node, revisionHeader));
  }
  return json(
    node,
    { key: result.value.key, deleted: true, revision: result.value.revision },
    revisionHeader,
  );
}

/** A request header, or undefined when absent (as Hono's `c.req.header`). */
function header(request: Request, name: string): string | undefined {
  return request.headers.get(name) ?? undefined;
}

/** A 200 JSON answer with the leader headers. */
function json(node: NodeApi, body: unknown, headers: Record<string, string>): Response {
  headers["Content-Type"] = "application/json";
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: withLeaderHeaders(node, headers),
  });
}

async function listKeys(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  refuseUnknownParams(c.req.url, LIST_PARAMS);
  const prefix = checkKey(queryParam(c.req.url, "prefix") ?? "", "prefix", options.maxKeyBytes);
  const afterText = queryParam(c.req.url, "after");
  const after = afterText === undefined ? null : checkKey(afterText, "after", options.maxKeyBytes);
  const limit = parseLimit(queryParam(c.req.url, "limit"));
  const consistency = parseConsistency(queryParam(c.req.url, "consistency"));
  const page = await readWithDeadline(
    options.requestTimeoutMs,
    (signal) => node.list(prefix, after, limit, consistency, signal),
  );
  assert(page.items.length <= limit, "the node returned more keys than asked");
  const last = page.items.at(-1);
  return c.json(
    {
      items: page.items.map(renderKeyValue),
      more: page.more,
      next: page.more && last !== undefined ? last.key : null,
      revision: page.revision,
    },
    200,
    { [REVISION_HEADER]: String(page.revision) },
  );
}

async function deletePrefix(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  refuseUnknownParams(c.req.url, DELETE_PREFIX_PARAMS);
  const all = queryParam(c.req.url, "all");
  if (all !== undefined && all !== "true" && all !== "false") {
    throw new RaftkvError("bad_request", "all must be true or false");
  }
  const prefix = checkKey(queryParam(c.req.url, "prefix") ?? "", "prefix", options.maxKeyBytes);
  if (prefix.length === 0 && all !== "true") {
    throw new RaftkvError(
      "bad_request",
      "give a non-empty prefix, or all=true to delete every key",
    );
  }
  const idempotencyKey = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const forwarded = await forwardIfNotLeader(c.req.raw, node, null, options);
  if (forwarded !== null) return forwarded;
  const result = await writeWithDeadline(
    node,
    { op: "deletePrefix", prefix },
    idempotencyKey,
    options.requestTimeoutMs,
  );
  if (!result.ok) return refusal(node, result);
  if (!isDeletePrefixResult(result.value)) throw reused(idempotencyKey);
  return c.json(
    { deleted: result.value.deleted, revision: result.value.revision },
    200,
    { [REVISION_HEADER]: String(result.value.revision) },
  );
}

/** A typed refusal (CAS lost, key missing) as 412/404, naming the current revision. */
function refusal(node: NodeApi, result: Extract<ApplyResult, { ok: false }>): Response {
  if (result.code === "lease_not_found" || result.code === "bad_request") {
    // About the lease, not the key: the key's state says nothing here.
    return errorAnswer(new RaftkvError(result.code, result.message), withLeaderHeaders(node, {}));
  }
  const current = result.current;
  const state = current === null
    ? "the key does not exist"
    : `current modRevision is ${current.modRevision}`;
  const headers: Record<string, string> = current === null
    ? {}
    : { ETag: etag(current.modRevision) };
  return errorAnswer(
    new RaftkvError(result.code, `${result.message} (${state})`),
    withLeaderHeaders(node, headers),
  );
}

/**
 * The store remembers an Idempotency-Key's first result whatever the request, so a key
 * reused for another write answers that first result: a different shape or key here.
 * Without an Idempotency-Key a mismatched result is a bug; with one it is the client's
 * reuse, answered 409 (it was a 500 from a failed assertion before).
 */
function reused(idempotencyKey: string | null): RaftkvError {
  assert(idempotencyKey !== null, "a write without Idempotency-Key applied to another result");
  return new RaftkvError(
    "conflict",
    `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for a different ` +
      "write; its first result is kept for the dedup window, so use a fresh key per write",
  );
}

type Applied = Extract<ApplyResult, { ok: true }>["value"];

function isPutResult(value: Applied): value is PutResult {
  return value !== null && "modRevision" in value;
}

function isDeleteResult(value: Applied): value is DeleteResult {
  return value !== null && "deleted" in value && typeof value.deleted === "boolean";
}

function isDeletePrefixResult(value: Applied): value is DeletePrefixResult {
  return value !== null && "deleted" in value && typeof value.deleted === "number";
}
