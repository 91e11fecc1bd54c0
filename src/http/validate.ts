/**
 * Input checks for the HTTP API. Each either returns a parsed value or throws
 * RaftkvError("bad_request" | "too_large"); limits come from {@link HttpOptions}.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import { MAX_IDEMPOTENCY_KEY_BYTES, MAX_TTL_SECONDS } from "../kv/limits.ts";
import type { Consistency } from "../kv/types.ts";

/** Default page size of a list. */
export const DEFAULT_LIST_LIMIT = 100;
/** Largest page size of a list. */
export const MAX_LIST_LIMIT = 1000;

const encoder = new TextEncoder();
const DECIMAL = /^-?[0-9]+$/;

/** Percent-decodes a raw path tail into a key: valid UTF-8, non-empty, ≤ maxKeyBytes. */
export function parseKey(rawPath: string, maxKeyBytes: number): string {
  // Nearly every key is sent plain: without a '%' there is nothing to decode.
  if (!rawPath.includes("%")) return checkKey(rawPath, "key", maxKeyBytes);
  let key: string;
  try {
    key = decodeURIComponent(rawPath);
  } catch {
    throw new RaftkvError("bad_request", "key is not valid percent-encoded UTF-8");
  }
  return checkKey(key, "key", maxKeyBytes);
}

/**
 * Checks an already-decoded key or prefix: well-formed, no NUL, within the byte limit.
 * NUL is refused because keys end up in logs, metrics labels and tools that read
 * C strings, where `a\0b` silently becomes `a`.
 */
export function checkKey(key: string, what: string, maxKeyBytes: number): string {
  if (what === "key" && key.length === 0) throw new RaftkvError("bad_request", "key is empty");
  if (!key.isWellFormed()) throw new RaftkvError("bad_request", `${what} is not valid UTF-8`);
  if (key.includes("\0")) {
    throw new RaftkvError("bad_request", `${what} contains a NUL character (U+0000)`);
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes: short keys need no encoding to be measured.
  if (key.length * 3 <= maxKeyBytes) return key;
  const bytes = encoder.encode(key).length;
  if (bytes > maxKeyBytes) {
    throw new RaftkvError("too_large", `${what} is ${bytes} bytes; the limit is ${maxKeyBytes}`);
  }
  return key;
}

/**
 * The value of query parameter `name` in `url`, strictly decoded, or undefined when
 * absent. Unlike Hono's `c.req.query()`, which leaves undecodable `%XX` sequences in
 * place (so `?prefix=%FF` would quietly mean the literal prefix "%FF"), a malformed
 * escape anywhere in the query answers 400, and so does a parameter given twice
 * (`?prefix=a&prefix=b` has no single meaning). `+` means a space, as in forms.
 */
export function queryParam(url: string, name: string): string | undefined {
  let found: string | undefined;
  for (const pair of rawQuery(url).split("&")) {
    if (pair.length === 0) continue;
    const equals = pair.indexOf("=");
    const key = decodeQueryPart(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? "" : decodeQueryPart(pair.slice(equals + 1));
    if (key !== name) continue;
    if (found !== undefined) throw new RaftkvError("bad_request", `give ${name} only once`);
    found = value;
  }
  return found;
}

/**
 * Refuses any query parameter the route does not take. Ignoring them made a request
 * quietly do something else: `GET /v1/kv/k?revision=5` (a read at a revision in etcd)
 * answered the current value, `PUT ?TTL=30` wrote a key that never expires, and
 * `GET /v1/watch?prefx=a` watched every key.
 */
export function refuseUnknownParams(url: string, allowed: readonly string[]): void {
  const query = rawQuery(url);
  if (query === "") return;
  for (const pair of query.split("&")) {
    if (pair.length === 0) continue;
    const equals = pair.indexOf("=");
    const name = decodeQueryPart(equals < 0 ? pair : pair.slice(0, equals));
    if (allowed.includes(name)) continue;
    const takes = allowed.length === 0
      ? "this route takes no query parameters"
      : `this route takes only ${allowed.join(", ")}`;
    throw new RaftkvError(
      "bad_request",
      `unknown query parameter ${JSON.stringify(name)}: ${takes}`,
    );
  }
}

function rawQuery(url: string): string {
  const hash = url.indexOf("#");
  const withoutHash = hash < 0 ? url : url.slice(0, hash);
  const question = withoutHash.indexOf("?");
  return question < 0 ? "" : withoutHash.slice(question + 1);
}

function decodeQueryPart(text: string): string {
  // Plain names and values (`consistency=stale`) have nothing to decode.
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    throw new RaftkvError("bad_request", "the query string is not valid percent-encoded UTF-8");
  }
}

/**
 * Parses a decimal integer in `[min, max]`, or throws bad_request naming `what`: one
 * message for text that is no integer, one (with the range) for any integer outside it,
 * negative or however large.
 */
export function parseInteger(
  text: string,
  what: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
  unit = "",
): number {
  if (!DECIMAL.test(text)) throw new RaftkvError("bad_request", `${what} must be an integer`);
  const value = Number(text);
  if (value < min || value > max) {
    const range = max !== Number.MAX_SAFE_INTEGER
      ? `${what} must be between ${min} and ${max}`
      : value > max
      ? `${what} is too big (at most ${max})`
      : `${what} must be at least ${min}`;
    throw new RaftkvError("bad_request", unit === "" ? range : `${range} ${unit}`);
  }
  return value === 0 ? 0 : value; // "-0" is 0
}

/** `?ttl=<seconds>`: absent → null, else a positive integer of seconds, returned in ms. */
export function parseTtlMs(text: string | undefined): number | null {
  if (text === undefined) return null;
  return parseInteger(text, "ttl", 1, MAX_TTL_SECONDS, "seconds") * 1000;
}

/** `?consistency=`: linearizable (default), lease or stale. */
export function parseConsistency(text: string | undefined): Consistency {
  if (text === undefined) return "linearizable";
  if (text === "linearizable" || text === "lease" || text === "stale") return text;
  throw new RaftkvError("bad_request", "consistency must be linearizable, lease or stale");
}

/** `?limit=`: 1..MAX_LIST_LIMIT, default DEFAULT_LIST_LIMIT. */
export function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIST_LIMIT;
  return parseInteger(text, "limit", 1, MAX_LIST_LIMIT);
}

/** A strong entity tag `"<rev>"`, as sent in ETag and expected in If-Match. */
export function etag(revision: number): string {
  return `"${revision}"`;
}

/**
 * The compare-and-set condition of a write from If-Match / If-None-Match:
 * `If-Match: "<rev>"` → ifModRevision, `If-None-Match: *` → createOnly.
 */
export function parsePreconditions(
  ifMatch: string | undefined,
  ifNoneMatch: string | undefined,
): { ifModRevision: number | null; createOnly: boolean } {
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new RaftkvError("bad_request", "send either If-Match or If-None-Match, not both");
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== "*") {
      throw new RaftkvError("bad_request", 'If-None-Match must be "*"');
    }
    return { ifModRevision: null, createOnly: true };
  }
  if (ifMatch === undefined) return { ifModRevision: null, createOnly: false };
  const match = /^"([0-9]+)"$/.exec(ifMatch.trim());
  if (match === null || match[1] === undefined) {
    throw new RaftkvError("bad_request", 'If-Match must be one revision in quotes, e.g. "42"');
  }
  return { ifModRevision: parseInteger(match[1], "If-Match revision"), createOnly: false };
}

/**
 * `Idempotency-Key`: absent → null; else 1..MAX_IDEMPOTENCY_KEY_BYTES UTF-8 bytes, the
 * state machine's own limit, so no key accepted here is refused at apply.
 */
export function parseIdempotencyKey(text: string | undefined): string | null {
  if (text === undefined) return null;
  // Header characters are at most U+00FF (2 UTF-8 bytes): short keys need no encoding.
  const bytes = text.length * 2 <= MAX_IDEMPOTENCY_KEY_BYTES
    ? text.length
    : encoder.encode(text).byteLength;
  if (text.length === 0 || bytes > MAX_IDEMPOTENCY_KEY_BYTES) {
    throw new RaftkvError(
      "bad_request",
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_BYTES} bytes (UTF-8)`,
    );
  }
  return text;
}

/** `?fromRevision=`: a non-negative integer, or null when absent. */
export function parseRevision(text: string | undefined, what: string): number | null {
  return text === undefined ? null : parseInteger(text, what);
}
