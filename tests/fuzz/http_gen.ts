/**
 * Random raw HTTP/1.1 requests against the raftkv API: methods, paths (weird
 * encodings, dot segments, very long), query values, headers and bodies, some
 * well-formed and some not. A generated request never names the protected key prefix
 * ("known/") or the `all` parameter in any spelling, so it cannot touch the keys a fuzz
 * run checks afterwards; everything else is fair game.
 *
 * @module
 */

import type { Prng } from "./prng.ts";

/** Keys the fuzzer must never reach; the run writes them first and checks them last. */
export const PROTECTED_PREFIX = "known/";

/** Words whose appearance in a decoded request could reach protected state. */
const FORBIDDEN_WORDS = ["known", "all"];

/** Longest generated path, in bytes: a bit past the runtime's 64 KiB request head. */
export const MAX_FUZZ_PATH_BYTES = 70 * 1024;
/** Largest generated body: a bit past the 1 MiB default value limit. */
export const MAX_FUZZ_BODY_BYTES = 1024 * 1024 + 16;

/** One generated request and what may legitimately happen to it. */
export interface FuzzRequest {
  /** The bytes to send. */
  bytes: Uint8Array;
  /** A one-line description for failure messages. */
  summary: string;
  method: string;
  /** May get no answer in time (a stream, a long poll, a body that never fully comes). */
  mayHang: boolean;
  /** Malformed at the HTTP level: the runtime may hang up without an answer. */
  malformed: boolean;
  /** A stream or a HEAD: read the headers only, then hang up. */
  headersOnly: boolean;
  /** Carries a request body (whatever its framing). */
  hasBody: boolean;
}

const encoder = new TextEncoder();

const METHODS = ["GET", "GET", "GET", "PUT", "PUT", "PUT", "DELETE", "DELETE", "HEAD", "POST"]
  .concat(["OPTIONS", "PATCH", "get", "Put", "FOO", "TRACE"]);

const ROUTES = [
  "/v1/kv/",
  "/v1/kv/",
  "/v1/kv/",
  "/v1/kv",
  "/v1/kv",
  "/v1/watch",
  "/v1/watch",
  "/v1/status",
  "/health",
  "/ready",
  "/metrics",
  "/dashboard",
  "/v1/cluster",
  "/v1/cluster/members",
  "/v1/cluster/members/n2",
  "/v1/cluster/members/n9/promote",
  "/",
  "/v1",
  "/v2/kv/x",
];

/** Key characters: no "k" or "K", so no spelling of "known" can be assembled. */
const KEY_PIECES = [
  "a",
  "b",
  "fz",
  "z",
  "0",
  "9",
  "/",
  "//",
  ".",
  "..",
  "-",
  "_",
  "~",
  " ",
  "+",
  "é",
  "日本",
  "😀",
  "%20",
  "%2F",
  "%2E",
  "%2E%2E",
  "%25",
  "%00",
  "%FF",
  "%C0%AF",
  "%E0%80%80",
  "%ED%A0%80",
  "%F4%90%80%80",
  "%",
  "%2",
  "%ZZ",
  "%C3%A9",
  "?",
  "#",
  ";",
  "\\",
  "%5C",
];

const QUERY_NAMES = [
  "ttl",
  "limit",
  "consistency",
  "fromRevision",
  "prefix",
  "after",
  "wait",
  "timeout",
  "x",
  "%70refix",
  "ttl%00",
  "",
];

const QUERY_VALUES = [
  "",
  "0",
  "1",
  "2",
  "-1",
  "1e3",
  "0x10",
  "1.5",
  "abc",
  "99999999999999999999",
  "9007199254740993",
  "315360001",
  "stale",
  "lease",
  "linearizable",
  "STALE",
  "true",
  "false",
  "fz/",
  "fz%2F",
  "%FF",
  "%00",
  "%C0%80",
  "+",
  "%",
];

const HEADER_MAKERS: ((r: Prng) => string)[] = [
  (r) =>
    `If-Match: ${r.pick(['"1"', '"0"', "*", '"abc"', "1", '"1", "2"', '"99999999999999999"'])}`,
  (r) => `If-None-Match: ${r.pick(["*", '"1"', "", "**"])}`,
  (r) => `Idempotency-Key: ${r.pick(["a", "fz-1", "x".repeat(257), "é", ""])}`,
  (r) => `Last-Event-ID: ${r.pick(["1", "-1", "abc", "99999999999999999999", ""])}`,
  (r) => `Content-Type: ${r.pick(["application/json", "text/plain", "multipart/form-data", ""])}`,
  (r) => `Accept-Encoding: ${r.pick(["gzip", "br", "*", "identity;q=0"])}`,
  (r) => `Origin: ${r.pick(["http://evil", "null", "*"])}`,
  (r) => `X-Raftkv-Forwarded: ${r.pick(["1", ""])}`,
  (r) => `Expect: ${r.pick(["100-continue", "garbage"])}`,
  (r) => `Connection: ${r.pick(["keep-alive", "upgrade", "close"])}`,
  (r) => `Upgrade: ${r.pick(["websocket", "h2c"])}`,
  (r) => `X-Junk-${r.int(1000)}: ${"j".repeat(r.int(2000))}`,
];

/** Builds one random request; `token` is the valid bearer token (sometimes garbled or left out). */
export function generateRequest(r: Prng, token: string): FuzzRequest {
  for (;;) {
    const request = attempt(r, token);
    if (request !== null) return request;
  }
}

/** Share of requests that are plausible API calls (with at most one odd detail). */
const PLAUSIBLE_SHARE = 0.4;

function attempt(r: Prng, token: string): FuzzRequest | null {
  const plausible = r.chance(PLAUSIBLE_SHARE);
  const method = plausible ? r.pick(["GET", "PUT", "PUT", "DELETE", "HEAD"]) : r.pick(METHODS);
  const path = plausible ? plausiblePath(r, method) : randomPath(r);
  if (!safe(path)) return null;
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1"];
  const auth = plausible ? 0 : r.next();
  if (auth < 0.85) lines.push(`Authorization: Bearer ${token}`);
  else if (auth < 0.92) lines.push(`Authorization: Bearer ${r.pick(["x", "", token + "x"])}`);
  const headerCount = plausible ? (r.chance(0.3) ? 1 : 0) : r.chance(0.02) ? 200 : r.int(4);
  for (let i = 0; i < headerCount; i++) lines.push(r.pick(HEADER_MAKERS)(r));
  if (lines.some((line) => !safe(line.toLowerCase()))) return null;
  const body = (plausible ? method === "PUT" : r.chance(0.5)) ? randomBody(r) : null;
  let malformed = headerCount > 100 || path.length > 60 * 1024;
  let mayHang = false;
  const framing = plausible ? r.next() * 0.8 : r.next();
  if (body === null) {
    lines.push("Connection: close");
  } else if (framing < 0.7) {
    lines.push(`Content-Length: ${body.length}`, "Connection: close");
  } else if (framing < 0.8) {
    lines.push("Transfer-Encoding: chunked", "Connection: close");
  } else if (framing < 0.9) {
    // Declares more than it sends: the server waits for the rest until its deadline.
    lines.push(`Content-Length: ${body.length + 1 + r.int(1000)}`, "Connection: close");
    mayHang = true;
  } else {
    lines.push(r.pick(["Content-Length: -1", "Content-Length: 1, 2", "Content-Length: x"]));
    lines.push("Transfer-Encoding: chunked", "Connection: close");
    malformed = true;
  }
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const payload = body === null
    ? new Uint8Array(0)
    : lines.includes("Transfer-Encoding: chunked")
    ? chunked(r, body)
    : body;
  const bytes = new Uint8Array(head.length + payload.length);
  bytes.set(head);
  bytes.set(payload, head.length);
  const isWatch = normalizedPath(path).startsWith("/v1/watch");
  return {
    bytes,
    summary: `${method} ${path.slice(0, 120)}${path.length > 120 ? "…" : ""} ` +
      `(${lines.length - 2} headers, body ${body?.length ?? "none"})`,
    method,
    mayHang: mayHang || isWatch,
    malformed,
    // A HEAD answer has no body whatever its Content-Length says (it says GET's length).
    headersOnly: method === "HEAD" || (isWatch && !path.includes("wait=true")),
    hasBody: body !== null,
  };
}

/**
 * The path as routing will see it, for classification only: dot segments resolved and,
 * as the router matches them, percent-encoded segments decoded (`/%76%31/watch` is a
 * watch, and an open-ended stream).
 */
export function normalizedPath(path: string): string {
  let pathname: string;
  try {
    pathname = new URL(path, "http://x").pathname;
  } catch {
    pathname = path;
  }
  return pathname.split("/").map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  }).join("/");
}

/** False when any spelling in `text` could name a forbidden word once decoded. */
function safe(text: string): boolean {
  let decoded = text.toLowerCase();
  for (let round = 0; round < 3; round++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      decoded = decoded.replace(
        /%([0-9a-f]{2})/gi,
        (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
      );
    }
    decoded = decoded.toLowerCase();
  }
  return !FORBIDDEN_WORDS.some((word) => decoded.includes(word) || text.includes(word));
}

/** A well-formed call on the fuzzer's own keys, sometimes with one odd query value. */
function plausiblePath(r: Prng, method: string): string {
  const key = "fz/" + Array.from({ length: 1 + r.int(3) }, () => r.pick(["a", "b", "z", "0"]))
    .join("");
  const odd = r.chance(0.3) ? `&${r.pick(QUERY_NAMES)}=${r.pick(QUERY_VALUES)}` : "";
  switch (r.int(method === "GET" ? 4 : 2)) {
    case 0:
      return `/v1/kv/${key}?${r.chance(0.3) ? "ttl=60" : "x=1"}${odd}`;
    case 1:
      return method === "DELETE" && r.chance(0.3)
        ? `/v1/kv?prefix=fz/${r.pick(["a", "b", "z"])}${odd}`
        : `/v1/kv/${key}?consistency=${r.pick(["linearizable", "lease", "stale"])}${odd}`;
    case 2:
      return `/v1/kv?prefix=fz/&limit=${1 + r.int(20)}${odd}`;
    default:
      return `/v1/watch?prefix=fz/&wait=true&timeout=1&fromRevision=${r.int(50)}${odd}`;
  }
}

function randomPath(r: Prng): string {
  let path = r.pick(ROUTES);
  if (path.endsWith("/kv/")) path += randomKey(r);
  if (r.chance(0.2)) path = mutatePath(r, path);
  if (r.chance(0.5)) path += "?" + randomQuery(r);
  if (r.chance(0.02)) path += "/" + "a".repeat(r.int(MAX_FUZZ_PATH_BYTES));
  return path.replace(/[\r\n ]/g, "%20");
}

function randomKey(r: Prng): string {
  let key = r.chance(0.5) ? "fz/" : "";
  const pieces = 1 + r.int(8);
  for (let i = 0; i < pieces; i++) key += r.pick(KEY_PIECES);
  if (r.chance(0.03)) key += "b".repeat(4096 + r.int(256)); // around the 4 KiB key limit
  return key;
}

function mutatePath(r: Prng, path: string): string {
  switch (r.int(6)) {
    case 0:
      return path.replace("/kv", r.pick(["/%6Bv", "/%6bv", "/kv/.", "/./kv", "/x/../kv"]));
    case 1:
      return path.replace("/v1", r.pick(["/v1/", "//v1", "/V1", "/v1/../v1", "/%76%31"]));
    case 2:
      return path + r.pick(["/..", "/.", "/../..", "/%2e%2e", "//"]);
    case 3:
      return "/" + path.split("/").reverse().join("/");
    case 4:
      return path.replaceAll("/", r.pick(["%2F", "\\", "/;/"]));
    default:
      return r.pick(["*", "http://127.0.0.1/v1/status", "v1/kv/a", "/%", "/%zz"]);
  }
}

function randomQuery(r: Prng): string {
  const parts: string[] = [];
  const count = 1 + r.int(4);
  for (let i = 0; i < count; i++) {
    const name = r.pick(QUERY_NAMES);
    parts.push(r.chance(0.1) ? name : `${name}=${r.pick(QUERY_VALUES)}`);
  }
  return parts.join(r.chance(0.9) ? "&" : "&&");
}

function randomBody(r: Prng): Uint8Array {
  const size = r.chance(0.03) ? MAX_FUZZ_BODY_BYTES - r.int(32) : r.int(r.chance(0.2) ? 8192 : 64);
  const body = new Uint8Array(size);
  for (let i = 0; i < Math.min(size, 256); i++) body[i] = r.int(256);
  return body;
}

function chunked(r: Prng, body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (offset < body.length) {
    const size = Math.min(body.length - offset, 1 + r.int(65536));
    parts.push(encoder.encode(size.toString(16) + "\r\n"));
    parts.push(body.subarray(offset, offset + size));
    parts.push(encoder.encode("\r\n"));
    offset += size;
  }
  parts.push(encoder.encode("0\r\n\r\n"));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
