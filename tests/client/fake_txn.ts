/**
 * `POST /v1/txn` for the fake nodes, following the coordination contract: compares on a
 * missing key see version/createRevision/modRevision 0 and lease null, and a value
 * compare on it is false; the branch taken runs at one revision, later operations see
 * earlier ones.
 *
 * @module
 */

import type { FakeRecord, FakeStore } from "./fake_store.ts";

/** The fake's answer: a status and a JSON body. */
export interface TxnAnswer {
  status: number;
  body: unknown;
}

type Json = Record<string, unknown>;

/** Applies one transaction body to `store`. */
export function applyTxn(store: FakeStore, body: Json): TxnAnswer {
  const compare = (body.compare ?? []) as Json[];
  const succeeded = compare.every((c) => holds(store.keys.get(String(c.key)), c));
  const branch = ((succeeded ? body.success : body.failure) ?? []) as Json[];
  const writes = branch.filter((op) => "put" in op || "delete" in op || "deletePrefix" in op);
  for (const op of writes) {
    const lease = (op.put as Json | undefined)?.lease;
    if (typeof lease === "string" && !store.leases.has(lease)) {
      return error(404, "lease_not_found", `lease ${lease} not found`);
    }
  }
  const revision = writes.length > 0 ? store.revision + 1 : store.revision;
  let changed = false;
  const results = branch.map((op): Json => {
    if ("put" in op) {
      const put = op.put as Json;
      const value = typeof put.valueBase64 === "string"
        ? Uint8Array.from(atob(put.valueBase64), (c) => c.charCodeAt(0))
        : new TextEncoder().encode(String(put.value));
      const lease = typeof put.lease === "string" ? put.lease : null;
      const record = store.write(String(put.key), value, lease, revision);
      changed = true;
      const { createRevision, modRevision, version } = record;
      return { put: { key: put.key, createRevision, modRevision, version } };
    }
    if ("delete" in op) {
      const key = String((op.delete as Json).key);
      const deleted = store.remove(key, revision);
      changed ||= deleted;
      return { delete: { key, deleted } };
    }
    if ("deletePrefix" in op) {
      const prefix = String((op.deletePrefix as Json).prefix);
      let deleted = 0;
      for (const key of store.keysUnder(prefix, null)) if (store.remove(key, revision)) deleted++;
      changed ||= deleted > 0;
      return { deletePrefix: { deleted } };
    }
    if ("get" in op) {
      const key = String((op.get as Json).key);
      const record = store.keys.get(key);
      return { get: { kv: record === undefined ? null : renderItem(key, record) } };
    }
    const list = op.list as Json;
    const limit = Number(list.limit ?? 1000);
    const keys = store.keysUnder(String(list.prefix), null);
    const page = keys.slice(0, limit);
    return {
      list: {
        items: page.map((key) => renderItem(key, store.keys.get(key)!)),
        more: keys.length > limit,
      },
    };
  });
  if (changed) store.revision = revision;
  if (writes.length > 0) store.applied++;
  return { status: 200, body: { succeeded, revision: store.revision, results } };
}

function holds(record: FakeRecord | undefined, compare: Json): boolean {
  const op = String(compare.op);
  const target = String(compare.target);
  if (target === "value") {
    if (record === undefined) return false;
    const expected = typeof compare.valueBase64 === "string"
      ? Uint8Array.from(atob(compare.valueBase64), (c) => c.charCodeAt(0))
      : new TextEncoder().encode(String(compare.value));
    return test(op, byteOrder(record.value, expected));
  }
  if (target === "lease") {
    const actual = record?.lease ?? null;
    const expected = compare.value as string | null;
    if (op === "=") return actual === expected;
    if (op === "!=") return actual !== expected;
    return test(op, String(actual ?? "").localeCompare(String(expected ?? "")));
  }
  const actual = record === undefined ? 0 : record[target as "version"];
  return test(op, Math.sign(actual - Number(compare.value)));
}

function test(op: string, order: number): boolean {
  switch (op) {
    case "=":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    default:
      return order > 0;
  }
}

function byteOrder(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/** A key as list pages and txn results show it. */
export function renderItem(key: string, record: FakeRecord): Json {
  return {
    key,
    ...encodeValue(record.value),
    createRevision: record.createRevision,
    modRevision: record.modRevision,
    version: record.version,
    expiresAt: record.expiresAt,
    lease: record.lease,
  };
}

/** UTF-8 text as `value`, anything else base64 with `encoding`. */
export function encodeValue(bytes: Uint8Array): { value: string; encoding?: "base64" } {
  try {
    return { value: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { value: btoa(String.fromCharCode(...bytes)), encoding: "base64" };
  }
}

function error(status: number, code: string, message: string): TxnAnswer {
  return { status, body: { error: { code, message } } };
}
