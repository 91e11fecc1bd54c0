/**
 * `list`: every key under a prefix, fetched page by page (`after` = the last key of
 * the previous page), yielded one at a time.
 *
 * @module
 */

import { readJson } from "./body.ts";
import { call, type CallContext } from "./call.ts";
import { BadRequest } from "./errors.ts";
import { errorFromResponse } from "./http_error.ts";
import { JsonObject, malformed, parseInstant } from "./json_shape.ts";
import { checkConsistency } from "./keys.ts";
import { DEFAULT_LIST_PAGE_SIZE, MAX_LIST_PAGE_SIZE, MAX_RESPONSE_BYTES } from "./limits.ts";
import type { ListOptions } from "./options.ts";
import type { Consistency, ListItem } from "./types.ts";
import { decodeValue, utf8 } from "./values.ts";

/** One page of a listing. */
export interface ListPage {
  items: ListItem[];
  /** True when more keys match after this page. */
  more: boolean;
  /** The `after` of the next page, or null. */
  next: string | null;
  /** The store revision this page was read at. */
  revision: number;
}

/** What one page request asks for. */
export interface PageRequest {
  prefix: string;
  after: string | null;
  pageSize: number;
  consistency: Consistency;
  signal?: AbortSignal | undefined;
}

/** Fetches one page. */
export async function fetchPage(ctx: CallContext, request: PageRequest): Promise<ListPage> {
  let path = `/v1/kv?prefix=${encodeURIComponent(request.prefix)}&limit=${request.pageSize}` +
    `&consistency=${request.consistency}`;
  if (request.after !== null) path += `&after=${encodeURIComponent(request.after)}`;
  return await call(ctx, {
    method: "GET",
    path,
    write: false,
    startAt: request.consistency === "stale" ? "first" : "preferred",
    signal: request.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const page = new JsonObject(await readJson(response, MAX_RESPONSE_BYTES), "list answer");
    return {
      items: page.array("items").map(toListItem),
      more: page.boolean("more"),
      next: page.nullableString("next"),
      revision: page.integer("revision"),
    };
  });
}

/** Yields every key under `prefix` (up to `limit`), following pages. */
export async function* listItems(
  ctx: CallContext,
  prefix: string,
  options: ListOptions = {},
): AsyncGenerator<ListItem, void, undefined> {
  const limit = options.limit ?? Infinity;
  const pageSize = options.pageSize ?? DEFAULT_LIST_PAGE_SIZE;
  const consistency = options.consistency ?? "linearizable";
  checkListOptions(prefix, limit, pageSize, consistency);
  let after: string | null = null;
  let yielded = 0;
  while (yielded < limit) {
    const page: ListPage = await fetchPage(ctx, {
      prefix,
      after,
      pageSize: Math.min(pageSize, limit - yielded),
      consistency,
      signal: options.signal,
    });
    for (const item of page.items) {
      if (yielded >= limit) return;
      yielded++;
      yield item;
    }
    if (!page.more) return;
    // Each page must move forward, or a confused server would loop us forever.
    if (page.next === null || page.next === after) throw malformed("list page did not advance");
    after = page.next;
  }
}

function checkListOptions(
  prefix: string,
  limit: number,
  pageSize: number,
  consistency: Consistency,
): void {
  if (typeof prefix !== "string") throw new BadRequest("prefix must be a string", { status: 0 });
  if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new BadRequest("limit must be a positive integer", { status: 0 });
  }
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_LIST_PAGE_SIZE) {
    throw new BadRequest(`pageSize must be 1 to ${MAX_LIST_PAGE_SIZE}`, { status: 0 });
  }
  checkConsistency(consistency);
}

/** A list item (in a page, or a transaction's get/list result) as the client returns it. */
export function toListItem(raw: unknown): ListItem {
  const item = new JsonObject(raw, "list item");
  const value = decodeValue(item.string("value"), item.raw("encoding"));
  return {
    key: item.string("key"),
    value,
    text: () => utf8(value),
    createRevision: item.integer("createRevision"),
    modRevision: item.integer("modRevision"),
    version: item.integer("version"),
    expiresAt: parseInstant(item.nullableString("expiresAt")),
    lease: item.nullableString("lease"),
  };
}
