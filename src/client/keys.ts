/**
 * Single-key operations and the prefix delete: `get`, `put`, `delete`, `deletePrefix`.
 *
 * @module
 */

import { discard, readBytes, readJson } from "./body.ts";
import { call, type CallContext } from "./call.ts";
import { BadRequest } from "./errors.ts";
import { errorFromResponse, optional, revisionOfEtag } from "./http_error.ts";
import { JsonObject, malformed, parseInstant } from "./json_shape.ts";
import { keyPath } from "./key_path.ts";
import {
  MAX_IDEMPOTENCY_KEY_CHARS,
  MAX_RESPONSE_BYTES,
  MAX_SMALL_ANSWER_BYTES,
  MAX_TTL_SECONDS,
} from "./limits.ts";
import type { DeleteOptions, DeletePrefixOptions, GetOptions, PutOptions } from "./options.ts";
import type { DeletePrefixResult, DeleteResult, GetResult, PutResult } from "./types.ts";
import { leaseIdOf } from "./lease_id.ts";
import { toBytes, utf8 } from "./values.ts";

/** Header carrying the store revision an answer saw. */
export const REVISION_HEADER = "X-Raftkv-Revision";

/** Header naming the lease a key is attached to (absent: none). */
export const LEASE_HEADER = "X-Raftkv-Lease";

/** Reads one key; null when it does not exist. */
export async function getKey(
  ctx: CallContext,
  key: string,
  options: GetOptions = {},
): Promise<GetResult | null> {
  const consistency = options.consistency ?? "linearizable";
  checkConsistency(consistency);
  return await call(ctx, {
    method: "GET",
    path: `${keyPath(key)}?consistency=${consistency}`,
    write: false,
    startAt: consistency === "stale" ? "first" : "preferred",
    signal: options.signal,
  }, async (response) => {
    if (await isMissingKey(response)) return null;
    if (!response.ok) throw await errorFromResponse(response);
    const modRevision = revisionOfEtag(response.headers.get("ETag"));
    if (modRevision === null) throw malformed("GET answer lacks an ETag");
    const revision = headerInteger(response.headers, REVISION_HEADER);
    const createRevision = headerInteger(response.headers, "X-Raftkv-Create-Revision", true);
    const version = headerInteger(response.headers, "X-Raftkv-Version", true);
    const expiresAt = parseInstant(response.headers.get("X-Raftkv-Expires-At"));
    const value = await readBytes(response, MAX_RESPONSE_BYTES);
    const lease = response.headers.get(LEASE_HEADER);
    return {
      value,
      text: () => utf8(value),
      modRevision,
      revision,
      lease,
      ...optional("createRevision", createRevision),
      ...optional("version", version),
      ...(version === undefined ? {} : { expiresAt }),
    };
  });
}

/** Writes one key; every attempt carries the same Idempotency-Key. */
export async function putKey(
  ctx: CallContext,
  key: string,
  value: string | Uint8Array,
  options: PutOptions = {},
): Promise<PutResult> {
  const headers = writeHeaders(options.idempotencyKey);
  headers["Content-Type"] = "application/octet-stream";
  if (options.ifRevision !== undefined && options.createOnly === true) {
    throw new BadRequest("give either ifRevision or createOnly, not both", { status: 0 });
  }
  if (options.ifRevision !== undefined) headers["If-Match"] = etagOf(options.ifRevision);
  if (options.createOnly === true) headers["If-None-Match"] = "*";
  if (options.ttlSeconds !== undefined && options.lease !== undefined) {
    throw new BadRequest("give either ttlSeconds or lease, not both", { status: 0 });
  }
  const lease = options.lease === undefined ? "" : `?lease=${leaseIdOf(options.lease)}`;
  const path = keyPath(key) + ttlQuery(options.ttlSeconds) + lease;
  const body = toBytes(value);
  return await call(ctx, {
    method: "PUT",
    path,
    headers,
    body,
    write: true,
    startAt: "preferred",
    signal: options.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_SMALL_ANSWER_BYTES), "put answer");
    return {
      key: json.string("key"),
      createRevision: json.integer("createRevision"),
      modRevision: json.integer("modRevision"),
      version: json.integer("version"),
    };
  });
}

/** Deletes one key; `deleted: false` when it did not exist. */
export async function deleteKey(
  ctx: CallContext,
  key: string,
  options: DeleteOptions = {},
): Promise<DeleteResult> {
  const headers = writeHeaders(options.idempotencyKey);
  if (options.ifRevision !== undefined) headers["If-Match"] = etagOf(options.ifRevision);
  return await call(ctx, {
    method: "DELETE",
    path: keyPath(key),
    headers,
    write: true,
    startAt: "preferred",
    signal: options.signal,
  }, async (response) => {
    if (await isMissingKey(response)) {
      return { deleted: false, revision: headerInteger(response.headers, REVISION_HEADER) };
    }
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_SMALL_ANSWER_BYTES), "delete answer");
    return { deleted: json.boolean("deleted"), revision: json.integer("revision") };
  });
}

/** Deletes every key starting with `prefix` in one revision. */
export async function deletePrefix(
  ctx: CallContext,
  prefix: string,
  options: DeletePrefixOptions = {},
): Promise<DeletePrefixResult> {
  if (typeof prefix !== "string") throw new BadRequest("prefix must be a string", { status: 0 });
  if (prefix === "" && options.all !== true) {
    throw new BadRequest("an empty prefix deletes every key: pass { all: true } to mean it", {
      status: 0,
    });
  }
  const all = prefix === "" ? "&all=true" : "";
  return await call(ctx, {
    method: "DELETE",
    path: `/v1/kv?prefix=${encodeURIComponent(prefix)}${all}`,
    headers: writeHeaders(options.idempotencyKey),
    write: true,
    startAt: "preferred",
    signal: options.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_SMALL_ANSWER_BYTES), "delete answer");
    return { deleted: json.integer("deleted"), revision: json.integer("revision") };
  });
}

/** Throws unless `consistency` is one the server knows. */
export function checkConsistency(consistency: string): void {
  if (consistency !== "linearizable" && consistency !== "lease" && consistency !== "stale") {
    throw new BadRequest("consistency must be linearizable, lease or stale", { status: 0 });
  }
}

/**
 * True (body discarded) for the server's "no such key" 404, which carries the store
 * revision; a 404 without it is a missing route (a wrong endpoint) and stays an error.
 */
async function isMissingKey(response: Response): Promise<boolean> {
  if (response.status !== 404 || !response.headers.has(REVISION_HEADER)) return false;
  await discard(response);
  return true;
}

/** The Idempotency-Key header of a write: the caller's key, or a fresh random one. */
export function writeHeaders(idempotencyKey: string | undefined): Record<string, string> {
  const key = idempotencyKey ?? crypto.randomUUID();
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    throw new BadRequest(
      `idempotencyKey must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} characters`,
      { status: 0 },
    );
  }
  return { "Idempotency-Key": key };
}

function etagOf(revision: number): string {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new BadRequest("ifRevision must be a non-negative integer", { status: 0 });
  }
  return `"${revision}"`;
}

function ttlQuery(ttlSeconds: number | undefined): string {
  if (ttlSeconds === undefined) return "";
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new BadRequest(`ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}`, {
      status: 0,
    });
  }
  return `?ttl=${ttlSeconds}`;
}

function headerInteger(headers: Headers, name: string): number;
function headerInteger(headers: Headers, name: string, optional: true): number | undefined;
function headerInteger(headers: Headers, name: string, optional = false): number | undefined {
  const text = headers.get(name);
  if (text === null && optional) return undefined;
  const value = Number(text);
  if (text === null || !/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) {
    throw malformed(`header ${name} is missing or not an integer`);
  }
  return value;
}
