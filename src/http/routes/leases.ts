/**
 * Lease routes: `POST /v1/leases` (grant), `POST /v1/leases/{id}/keepalive`,
 * `DELETE /v1/leases/{id}` (revoke), `GET /v1/leases/{id}` (its keys paginated with
 * `?limit=&after=`, as lists are) and `GET /v1/leases` (paginated).
 * Mounted under `/v1`. Writes go to the leader (forwarded from followers).
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { RaftkvError } from "../../errors.ts";
import { canonicalLeaseId, MAX_LEASE_TTL_MS } from "../../kv/leases.ts";
import type { ApplyResult, LeaseGrantResult, LeaseRevokeResult } from "../../kv/types.ts";
import { readBodyLimited } from "../body.ts";
import { deadlinesOf } from "../deadlines.ts";
import { errorResponse, methodNotAllowed } from "../errors.ts";
import { forwardIfNotLeader } from "../forward.ts";
import type { LeaseView, NodeApi } from "../node_api.ts";
import { readWithDeadline, writeWithDeadline } from "../node_calls.ts";
import { DEFAULT_MIN_LEASE_TTL_MS, type HttpOptions } from "../options.ts";
import { assert } from "../../assert.ts";
import {
  checkKey,
  parseConsistency,
  parseIdempotencyKey,
  parseInteger,
  parseLimit,
  queryParam,
  refuseUnknownParams,
} from "../validate.ts";
import { REVISION_HEADER } from "./kv.ts";

/** Largest grant body: `{"ttlSeconds": n}` needs a few dozen bytes. */
export const MAX_LEASE_BODY_BYTES = 1024;
/**
 * Most attached keys one `GET /v1/leases/{id}` answer lists, and how many it lists
 * without `?limit=`: a lease may hold 10,000 keys, too many for one answer; the rest
 * come page by page with `?after=<next>`. Most leases hold far fewer, and get all of
 * them in one answer.
 */
export const LEASE_KEYS_PAGE_LIMIT = 1000;

/** The router for leases; mount with `app.route("/v1", leaseRoutes(node, options))`. */
export function leaseRoutes(node: NodeApi, options: HttpOptions): Hono {
  return new Hono()
    .post("/leases", (c) => grant(c, node, options))
    .get("/leases", (c) => list(c, node, options))
    .all("/leases", methodNotAllowed(["GET", "HEAD", "POST"]))
    .post("/leases/:id/keepalive", (c) => keepalive(c, node, options))
    .all("/leases/:id/keepalive", methodNotAllowed(["POST"]))
    .get("/leases/:id", (c) => lookup(c, node, options))
    .delete("/leases/:id", (c) => revoke(c, node, options))
    .all("/leases/:id", methodNotAllowed(["GET", "HEAD", "DELETE"]));
}

async function grant(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  refuseUnknownParams(c.req.url, []); // the TTL is in the body: `?ttl=` would be ignored
  const idempotencyKey = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const body = await readBodyLimited(c.req.raw, MAX_LEASE_BODY_BYTES);
  const ttlMs = parseTtlSeconds(body, options.minLeaseTtlMs ?? DEFAULT_MIN_LEASE_TTL_MS);
  const forwarded = await forwardIfNotLeader(c.req.raw, node, body, options);
  if (forwarded !== null) return forwarded;
  const result = await writeWithDeadline(
    node,
    { op: "leaseGrant", ttlMs },
    idempotencyKey,
    options.requestTimeoutMs,
  );
  const value = applied(c, result);
  if (value instanceof Response) return value;
  if (value === null || !("lease" in value)) throw reused(idempotencyKey);
  const lease = (value as LeaseGrantResult).lease;
  return c.json({ id: lease.id, ttlSeconds: lease.ttlMs / 1000 }, 201);
}

async function keepalive(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  const id = canonicalLeaseId(c.req.param("id"), "the lease id");
  refuseUnknownParams(c.req.url, []);
  const forwarded = await forwardIfNotLeader(c.req.raw, node, null, options);
  if (forwarded !== null) return forwarded;
  const { signal, deadline } = deadlinesOf(options.requestTimeoutMs).signal();
  try {
    const view = await node.keepalive(id, signal);
    if (view === null) throw leaseNotFound(id);
    return c.json(renderLease(view));
  } finally {
    deadline.cancel();
  }
}

async function revoke(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  const id = canonicalLeaseId(c.req.param("id"), "the lease id");
  refuseUnknownParams(c.req.url, []);
  const idempotencyKey = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const forwarded = await forwardIfNotLeader(c.req.raw, node, null, options);
  if (forwarded !== null) return forwarded;
  const result = await writeWithDeadline(
    node,
    { op: "leaseRevoke", id },
    idempotencyKey,
    options.requestTimeoutMs,
  );
  const value = applied(c, result);
  if (value instanceof Response) return value;
  if (value === null || !("revoked" in value) || value.id !== id) throw reused(idempotencyKey);
  const r = value as LeaseRevokeResult;
  return c.json(
    { id: r.id, revoked: true, deleted: r.deleted, revision: r.revision },
    200,
    { [REVISION_HEADER]: String(r.revision) },
  );
}

async function lookup(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  const id = canonicalLeaseId(c.req.param("id"), "the lease id");
  refuseUnknownParams(c.req.url, ["consistency", "after", "limit"]);
  const afterText = queryParam(c.req.url, "after");
  const after = afterText === undefined ? null : checkKey(afterText, "after", options.maxKeyBytes);
  const limitText = queryParam(c.req.url, "limit");
  const limit = limitText === undefined
    ? LEASE_KEYS_PAGE_LIMIT
    : parseInteger(limitText, "limit", 1, LEASE_KEYS_PAGE_LIMIT);
  const consistency = parseConsistency(queryParam(c.req.url, "consistency"));
  const found = await readWithDeadline(
    options.requestTimeoutMs,
    (signal) => node.lease(id, after, limit, consistency, signal),
  );
  if (found === null) throw leaseNotFound(id);
  assert(found.keys.length <= limit, "the node returned more lease keys than asked");
  const last = found.keys.at(-1);
  return c.json({
    ...renderLease(found.lease),
    keys: found.keys,
    more: found.more,
    next: found.more && last !== undefined ? last : null,
  });
}

async function list(c: Context, node: NodeApi, options: HttpOptions): Promise<Response> {
  refuseUnknownParams(c.req.url, ["after", "limit", "consistency"]);
  const afterText = queryParam(c.req.url, "after");
  const after = afterText === undefined ? null : canonicalLeaseId(afterText, "after");
  const limit = parseLimit(queryParam(c.req.url, "limit"));
  const consistency = parseConsistency(queryParam(c.req.url, "consistency"));
  const page = await readWithDeadline(
    options.requestTimeoutMs,
    (signal) => node.leases(after, limit, consistency, signal),
  );
  const last = page.items.at(-1);
  return c.json({
    items: page.items.map(renderLease),
    more: page.more,
    next: page.more && last !== undefined ? last.id : null,
  });
}

/** A lease as every lease answer shows it. */
export function renderLease(
  view: LeaseView,
): { id: string; ttlSeconds: number; remainingMs: number } {
  return { id: view.id, ttlSeconds: view.ttlMs / 1000, remainingMs: view.remainingMs };
}

/**
 * `{"ttlSeconds": n}` → milliseconds: a number of seconds (decimals allowed, to the
 * millisecond) between the minimum (1.5 × the election timeout) and the maximum.
 */
export function parseTtlSeconds(body: Uint8Array, minTtlMs: number): number {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new RaftkvError("bad_request", 'the body must be JSON: {"ttlSeconds": <seconds>}');
  }
  const fields = typeof json === "object" && json !== null ? Object.keys(json) : [];
  const ttlSeconds = (json as { ttlSeconds?: unknown } | null)?.ttlSeconds;
  if (
    typeof ttlSeconds !== "number" || !Number.isFinite(ttlSeconds) || fields.length !== 1 ||
    Array.isArray(json)
  ) {
    throw new RaftkvError("bad_request", 'the body must be {"ttlSeconds": <seconds>}');
  }
  const ttlMs = Math.round(ttlSeconds * 1000);
  if (ttlMs < minTtlMs || ttlMs > MAX_LEASE_TTL_MS) {
    throw new RaftkvError(
      "bad_request",
      `ttlSeconds must be between ${minTtlMs / 1000} (1.5 × the election timeout) and ` +
        `${MAX_LEASE_TTL_MS / 1000}`,
    );
  }
  return ttlMs;
}

/** The applied value, or the refusal's error answer. */
function applied(
  c: Context,
  result: ApplyResult,
): Response | Extract<ApplyResult, { ok: true }>["value"] {
  if (result.ok) return result.value;
  return errorResponse(c, new RaftkvError(result.code, result.message));
}

function leaseNotFound(id: string): RaftkvError {
  return new RaftkvError(
    "lease_not_found",
    `lease ${id} not found: it expired, was revoked or never existed`,
  );
}

function reused(idempotencyKey: string | null): RaftkvError {
  return new RaftkvError(
    idempotencyKey === null ? "internal" : "conflict",
    idempotencyKey === null
      ? "the lease change applied to another result"
      : `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for a different write`,
  );
}
