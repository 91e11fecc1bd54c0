/**
 * Turning an unsuccessful HTTP answer into the right typed error. The JSON body's
 * `code` wins; the status decides when the body is not ours (a proxy's HTML page).
 *
 * @module
 */

import { readBytes } from "./body.ts";
import {
  BadRequest,
  type ClientErrorDetails,
  LeaseNotFound,
  NotFound,
  OutcomeUnknown,
  PreconditionFailed,
  RaftkvClientError,
  RevisionCompacted,
  Unauthorized,
  Unavailable,
} from "./errors.ts";
import { MAX_ERROR_BODY_BYTES } from "./limits.ts";

const CODE_BY_STATUS: ReadonlyMap<number, string> = new Map([
  [400, "bad_request"],
  [401, "unauthorized"],
  [403, "forbidden"],
  [404, "not_found"],
  [405, "bad_request"],
  [409, "conflict"],
  [410, "revision_compacted"],
  [412, "precondition_failed"],
  [413, "too_large"],
  [429, "too_many_requests"],
  [500, "internal"],
  [503, "unavailable"],
  [504, "outcome_unknown"],
]);

/** Reads the error body of `response` (bounded) and builds its typed error. */
export async function errorFromResponse(response: Response): Promise<RaftkvClientError> {
  let code = CODE_BY_STATUS.get(response.status) ?? "internal";
  let message = `HTTP ${response.status} ${response.statusText}`.trim();
  try {
    const text = new TextDecoder().decode(await readBytes(response, MAX_ERROR_BODY_BYTES));
    const body: unknown = JSON.parse(text);
    const error = isRecord(body) ? body.error : undefined;
    if (isRecord(error) && typeof error.code === "string" && typeof error.message === "string") {
      code = error.code;
      message = error.message;
    }
  } catch {
    // Not our JSON (or too big, or cut short): the status alone must do.
  }
  return errorFor(code, message, {
    status: response.status,
    ...optional("retryAfterSeconds", retryAfterSeconds(response.headers)),
  }, response.headers);
}

/** The typed error of a code. */
export function errorFor(
  code: string,
  message: string,
  details: ClientErrorDetails,
  headers?: Headers,
): RaftkvClientError {
  switch (code) {
    case "bad_request":
      return new BadRequest(message, details);
    case "unauthorized":
      return new Unauthorized(message, details);
    case "not_found":
      return new NotFound(message, details);
    case "precondition_failed":
      return new PreconditionFailed(message, {
        ...details,
        currentRevision: revisionOfEtag(headers?.get("ETag") ?? null),
      });
    case "revision_compacted":
      return new RevisionCompacted(message, details);
    case "unavailable":
      return new Unavailable(message, details);
    case "outcome_unknown":
      return new OutcomeUnknown(message, details);
    case "lease_not_found":
      return new LeaseNotFound(message, details);
    default:
      return new RaftkvClientError(code, message, details);
  }
}

/** The revision inside a strong entity tag `"<rev>"`, or null. */
export function revisionOfEtag(etag: string | null): number | null {
  const match = etag === null ? null : /^"([0-9]+)"$/.exec(etag.trim());
  if (match === null || match[1] === undefined) return null;
  const revision = Number(match[1]);
  return Number.isSafeInteger(revision) ? revision : null;
}

/** `Retry-After` in seconds (delta form only; dates are ignored), or undefined. */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const text = headers.get("Retry-After");
  if (text === null || !/^[0-9]{1,9}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/** `{ [name]: value }` when value is defined, else `{}` (for exactOptionalPropertyTypes). */
export function optional<K extends string, V>(
  name: K,
  value: V | undefined,
): { [P in K]?: V } {
  return value === undefined ? {} : { [name]: value } as { [P in K]?: V };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
