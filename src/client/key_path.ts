/**
 * Keys in URLs. Each `/`-separated segment is percent-encoded on its own, so keys like
 * `users/42/name` stay readable in logs; the server decodes the whole tail.
 *
 * @module
 */

import { BadRequest } from "./errors.ts";

/** Path prefix of single-key routes. */
export const KEY_PATH_PREFIX = "/v1/kv/";

/**
 * The request path of `key`. A `.` or `..` segment would be collapsed by URL parsing
 * (even as `%2E%2E`), so such keys are sent with their slashes encoded as `%2F`.
 */
export function keyPath(key: string): string {
  checkKey(key);
  const segments = key.split("/");
  const dotted = segments.some((segment) => segment === "." || segment === "..");
  if (dotted) return KEY_PATH_PREFIX + encodeURIComponent(key);
  return KEY_PATH_PREFIX + segments.map(encodeURIComponent).join("/");
}

/** Refuses keys the server would refuse anyway, without a round trip. */
export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new BadRequest("key must be a non-empty string", { status: 0 });
  }
  if (!isWellFormed(key)) {
    throw new BadRequest("key must be valid UTF-16 (no lone surrogates)", { status: 0 });
  }
}

/**
 * True when `text` has no lone surrogates. A loop, not `String.prototype.isWellFormed`
 * (newer than Node 20) nor a lookbehind regex (a syntax error in older Safari).
 */
export function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff) return false; // a low surrogate with no high one before it
    const next = text.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
    i++;
  }
  return true;
}
