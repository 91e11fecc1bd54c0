/**
 * The endpoints a client rotates over. Calls start at the endpoint that last answered
 * (so a client settles on a healthy node) and move to the next one on each failure;
 * `stale` reads start at the first endpoint, which callers list as their nearest node.
 *
 * @module
 */

import assert from "./assert.ts";
import { BadRequest } from "./errors.ts";
import { MAX_ENDPOINTS } from "./limits.ts";

/** Where a call starts: the last endpoint that answered, or the first one listed. */
export type StartAt = "preferred" | "first";

/** A fixed ring of base URLs with a sticky preferred index. */
export class Endpoints {
  /** Base URLs without a trailing slash, in the caller's order. */
  readonly urls: readonly string[];
  #preferred = 0;

  /** Validates and normalizes `urls` (http or https, 1 to MAX_ENDPOINTS of them). */
  constructor(urls: readonly string[]) {
    if (!Array.isArray(urls) || urls.length === 0 || urls.length > MAX_ENDPOINTS) {
      throw new BadRequest(`give 1 to ${MAX_ENDPOINTS} endpoints`, { status: 0 });
    }
    this.urls = urls.map(normalize);
  }

  /** Index of the endpoint a call starting at `start` tries first. */
  first(start: StartAt): number {
    return start === "first" ? 0 : this.#preferred;
  }

  /** The endpoint after `index`, wrapping around. */
  next(index: number): number {
    assert(index >= 0 && index < this.urls.length, "endpoint index in range");
    return (index + 1) % this.urls.length;
  }

  /** Remembers that `index` answered, so later calls start there. */
  answered(index: number): void {
    assert(index >= 0 && index < this.urls.length, "endpoint index in range");
    this.#preferred = index;
  }

  /** The full URL of `path` (which starts with `/`) on endpoint `index`. */
  url(index: number, path: string): string {
    const base = this.urls[index];
    assert(base !== undefined, "endpoint index in range");
    assert(path.startsWith("/"), "paths are absolute");
    return base + path;
  }
}

function normalize(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new BadRequest(`endpoint ${JSON.stringify(url)} is not a URL`, { status: 0, cause });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new BadRequest(`endpoint ${url} must be http or https`, { status: 0 });
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new BadRequest(`endpoint ${url} must not carry a query or fragment`, { status: 0 });
  }
  return parsed.href.replace(/\/+$/, "");
}
