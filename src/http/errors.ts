/**
 * The one place that maps {@link ErrorCode} to an HTTP status, and the JSON error
 * body every failure uses: `{"error":{"code","message"}}`.
 *
 * @module
 */

import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorCode, RaftkvError } from "../errors.ts";

/** HTTP status of each error code. Nothing else in the code base decides statuses. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, ContentfulStatusCode>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  lease_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  revision_compacted: 410,
  precondition_failed: 412,
  too_large: 413,
  too_many_requests: 429,
  internal: 500,
  unavailable: 503,
  outcome_unknown: 504,
};

/** Seconds a client should wait before retrying a 503 when the error gives no hint. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** Statuses Hono or the runtime may raise as HTTPException, mapped back to codes. */
const CODE_BY_EXCEPTION_STATUS: ReadonlyMap<number, ErrorCode> = new Map(
  Object.entries(STATUS_BY_CODE)
    .filter(([code]) => code !== "lease_not_found") // 404 stays not_found
    .map(([code, status]) => [status, code as ErrorCode]),
);

/** Builds the error answer for `error`: status, JSON body, and Retry-After for 503. */
export function errorResponse(_c: Context, error: RaftkvError, headers?: HeadersInit): Response {
  return errorAnswer(error, headers === undefined ? {} : Object.fromEntries(new Headers(headers)));
}

/** {@link errorResponse} without a Hono context; `headers` may be extended in place. */
export function errorAnswer(error: RaftkvError, headers: Record<string, string> = {}): Response {
  const retryAfter = error.retryAfterSeconds ??
    (error.code === "unavailable" ? DEFAULT_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) headers["Retry-After"] = String(retryAfter);
  headers["Content-Type"] = "application/json";
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  return new Response(JSON.stringify(body), { status: STATUS_BY_CODE[error.code], headers });
}

/**
 * Turns anything thrown into a user-facing error. Unknown exceptions become
 * `internal` with a generic message: their details go to the log, never the client.
 */
export function toRaftkvError(thrown: unknown): { error: RaftkvError; unexpected: boolean } {
  if (thrown instanceof RaftkvError) return { error: thrown, unexpected: false };
  if (thrown instanceof HTTPException) {
    const code = CODE_BY_EXCEPTION_STATUS.get(thrown.status) ?? "internal";
    return {
      error: new RaftkvError(code, thrown.message || code),
      unexpected: code === "internal",
    };
  }
  return { error: new RaftkvError("internal", "internal error"), unexpected: true };
}

/** `app.onError` handler: maps errors, logs the unexpected ones. */
export function onError(thrown: unknown, c: Context): Response {
  const { error, unexpected } = toRaftkvError(thrown);
  if (unexpected) console.error(`raftkv http: ${c.req.method} ${c.req.path} failed:`, thrown);
  return errorResponse(c, error);
}

/** `app.notFound` handler: unknown routes answer 404 JSON. */
export function notFound(c: Context): Response {
  return errorResponse(c, new RaftkvError("not_found", `no route for ${c.req.path}`));
}

/** Handler for a known path hit with a method it does not serve: 405 JSON with Allow. */
export function methodNotAllowed(allowed: readonly string[]): (c: Context) => Response {
  const allow = allowed.join(", ");
  return (c) => {
    const body: ErrorBody = {
      error: {
        code: "method_not_allowed",
        message: `method ${c.req.method} not allowed; use ${allow}`,
      },
    };
    return c.json(body, 405, { Allow: allow });
  };
}
