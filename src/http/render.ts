/**
 * JSON shapes of keys and watch events. Values travel as UTF-8 text when they are
 * valid UTF-8, else as base64 with `encoding: "base64"`.
 *
 * @module
 */

import type { KeyValue, PutResult, WatchEvent } from "../kv/types.ts";

/** A value rendered for JSON. `encoding` is present only for base64. */
export interface EncodedValue {
  value: string;
  encoding?: "base64";
}

/** One key in a list answer. */
export interface KeyValueJson extends EncodedValue {
  key: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Expiry as an ISO 8601 instant, or null. */
  expiresAt: string | null;
  /** The lease the key is attached to, or null. */
  lease: string | null;
}

/** One watch event, as the SSE `data:` line and long-poll items carry it. */
export interface WatchEventJson {
  type: "put" | "delete";
  key: string;
  /** The new value for puts; null for deletes. */
  value: string | null;
  encoding?: "base64";
  revision: number;
  createRevision: number;
  version: number;
  /** The key's lease after a put; null for deletes and keys without one. */
  lease: string | null;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Renders bytes as UTF-8 text when they decode cleanly, else base64. */
export function encodeValue(bytes: Uint8Array): EncodedValue {
  try {
    return { value: strictDecoder.decode(bytes) };
  } catch {
    return { value: toBase64(bytes), encoding: "base64" };
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  // Chunked so String.fromCharCode never gets more arguments than the engine allows.
  const CHUNK_BYTES = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK_BYTES) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK_BYTES));
  }
  return btoa(binary);
}

/** A stored key as list answers show it. */
export function renderKeyValue(kv: KeyValue): KeyValueJson {
  return {
    key: kv.key,
    ...encodeValue(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    expiresAt: kv.expiresAtMs === null ? null : new Date(kv.expiresAtMs).toISOString(),
    lease: kv.lease,
  };
}

/** A watch event as JSON. */
export function renderWatchEvent(event: WatchEvent): WatchEventJson {
  const value = event.value === null ? { value: null } : encodeValue(event.value);
  return {
    type: event.type,
    key: event.key,
    ...value,
    revision: event.revision,
    createRevision: event.createRevision,
    version: event.version,
    lease: event.lease,
  };
}

/** The body of a successful PUT. */
export function renderPutResult(result: PutResult): PutResult {
  return {
    key: result.key,
    createRevision: result.createRevision,
    modRevision: result.modRevision,
    version: result.version,
  };
}
