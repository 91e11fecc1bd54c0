/**
 * One KV request over HTTP, classified the way a chaos history needs it: an answer
 * whose meaning is certain, or an unknown outcome and why. Every request has a
 * deadline, so a paused or partitioned node costs at most that long.
 *
 * The API compares revisions (`If-Match: "<modRevision>"`), the checker's model
 * compares values; with one unique value per write the two agree (see clients.ts).
 *
 * @module
 */

/**
 * Why an outcome is unknown (also used for counting). `not-sent` is the one certain
 * case: the TCP connection could not be made, so the server never saw the request.
 */
export type UnknownReason =
  | "not-sent"
  | "refused"
  | "timeout"
  | "connection"
  | "503"
  | "504"
  | "other";

/**
 * 503 messages in which the server states that a write was not applied: refused before
 * it was proposed (no leader, not the leader, not forwarded, leadership moving) or
 * known to be overwritten in the log ("the write was not applied").
 */
const REFUSED_PATTERN =
  /knows no leader|will not forward|never sent|was not applied|no leader is known|is not the leader|being transferred/;

/** Errors of the connect phase: the request was never written to a socket. */
const CONNECT_FAILED_PATTERN = /\(Connect\)|Connection refused|os error 111/;

/** A read's certain answer: the value and its modRevision, or a missing key. */
export interface ReadAnswer {
  kind: "read";
  value: string | null;
  modRevision: number | null;
  /** X-Raftkv-Revision: the store revision the read saw. */
  storeRevision: number | null;
}

/** A write's certain answer. */
export interface WriteAnswer {
  kind: "write";
  /** false: a compare-and-set lost (412), or a delete found no key (404). */
  ok: boolean;
  /** modRevision of a put, revision of a delete; null when nothing changed. */
  revision: number | null;
}

/** A request whose effect is not known. */
export interface UnknownAnswer {
  kind: "unknown";
  reason: UnknownReason;
  detail: string;
}

/** A write precondition: compare-and-set on a revision, or create-only. */
export type Precondition = { ifMatch: number } | { createOnly: true } | null;

function keyUrl(baseUrl: string, key: string): string {
  return `${baseUrl}/v1/kv/${encodeURIComponent(key)}`;
}

function revisionOf(etag: string | null): number | null {
  const m = etag === null ? null : /^"(\d+)"$/.exec(etag);
  return m?.[1] === undefined ? null : Number(m[1]);
}

function numberHeader(res: Response, name: string): number | null {
  const text = res.headers.get(name);
  return text === null ? null : Number(text);
}

async function send(
  client: Deno.HttpClient,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<{ res: Response; body: string } | UnknownAnswer> {
  try {
    const res = await fetch(url, { ...init, client, signal: AbortSignal.timeout(timeoutMs) });
    return { res, body: await res.text() };
  } catch (e) {
    const name = (e as Error).name;
    const detail = `${e} ${(e as Error).cause ?? ""}`;
    const reason = name === "TimeoutError" || name === "AbortError"
      ? "timeout"
      : CONNECT_FAILED_PATTERN.test(detail)
      ? "not-sent"
      : "connection";
    return { kind: "unknown", reason, detail };
  }
}

/** A 404 about the key itself ("key … does not exist"), not e.g. an unknown route. */
function isMissingKey(body: string): boolean {
  return body.includes('"not_found"') && body.includes("does not exist");
}

function unknownStatus(status: number, body: string): UnknownAnswer {
  const reason = status === 503
    ? REFUSED_PATTERN.test(body) ? "refused" : "503"
    : status === 504
    ? "504"
    : "other";
  return { kind: "unknown", reason, detail: `${status} ${body.slice(0, 200)}` };
}

/** GET a key at the given consistency. */
export async function kvGet(
  client: Deno.HttpClient,
  baseUrl: string,
  key: string,
  consistency: "linearizable" | "stale",
  timeoutMs: number,
): Promise<ReadAnswer | UnknownAnswer> {
  const r = await send(client, `${keyUrl(baseUrl, key)}?consistency=${consistency}`, {}, timeoutMs);
  if ("kind" in r) return r;
  const storeRevision = numberHeader(r.res, "x-raftkv-revision");
  if (r.res.status === 200) {
    const modRevision = revisionOf(r.res.headers.get("etag"));
    return { kind: "read", value: r.body, modRevision, storeRevision };
  }
  if (r.res.status === 404 && isMissingKey(r.body)) {
    return { kind: "read", value: null, modRevision: null, storeRevision };
  }
  return unknownStatus(r.res.status, r.body);
}

/** PUT a value, optionally conditional. */
export async function kvPut(
  client: Deno.HttpClient,
  baseUrl: string,
  key: string,
  value: string,
  precondition: Precondition,
  timeoutMs: number,
): Promise<WriteAnswer | UnknownAnswer> {
  const headers: Record<string, string> = {};
  if (precondition !== null && "ifMatch" in precondition) {
    headers["If-Match"] = `"${precondition.ifMatch}"`;
  } else if (precondition !== null) headers["If-None-Match"] = "*";
  const r = await send(
    client,
    keyUrl(baseUrl, key),
    { method: "PUT", body: value, headers },
    timeoutMs,
  );
  if ("kind" in r) return r;
  if (r.res.status === 200) {
    const body = JSON.parse(r.body) as { modRevision: number };
    return { kind: "write", ok: true, revision: body.modRevision };
  }
  if (r.res.status === 412 && precondition !== null) {
    return { kind: "write", ok: false, revision: null };
  }
  return unknownStatus(r.res.status, r.body);
}

/** DELETE a key (unconditionally). */
export async function kvDelete(
  client: Deno.HttpClient,
  baseUrl: string,
  key: string,
  timeoutMs: number,
): Promise<WriteAnswer | UnknownAnswer> {
  const r = await send(client, keyUrl(baseUrl, key), { method: "DELETE" }, timeoutMs);
  if ("kind" in r) return r;
  if (r.res.status === 200) {
    const body = JSON.parse(r.body) as { revision: number };
    return { kind: "write", ok: true, revision: body.revision };
  }
  // Applied, but there was nothing to delete.
  if (r.res.status === 404 && isMissingKey(r.body)) {
    return { kind: "write", ok: false, revision: null };
  }
  return unknownStatus(r.res.status, r.body);
}

/** One comparison of `POST /v1/txn`, as the wire carries it. */
export interface WireCompare {
  key: string;
  target: "value" | "version" | "createRevision" | "modRevision" | "lease";
  op: "=" | "!=" | "<" | ">";
  value: string | number | null;
}

/** One operation of a `POST /v1/txn` branch, as the wire carries it. */
export type WireOp =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string } }
  | { get: { key: string } };

/** The body of `POST /v1/txn`. */
export interface WireTxn {
  compare: WireCompare[];
  success: WireOp[];
  failure: WireOp[];
}

/** A key as a transaction's get shows it (the fields the chaos clients use). */
export interface WireKv {
  key: string;
  value: string;
  encoding?: "base64";
  createRevision: number;
  modRevision: number;
  version: number;
}

/** One result of a transaction operation, in branch order. */
export type WireResult =
  | { put: { key: string; createRevision: number; modRevision: number; version: number } }
  | { delete: { key: string; deleted: boolean } }
  | { get: { kv: WireKv | null } };

/** A transaction's certain answer. */
export interface TxnAnswer {
  kind: "txn";
  succeeded: boolean;
  /** The store revision after it (its writes' revision when it wrote). */
  revision: number;
  results: WireResult[];
}

/**
 * The server stated that nothing was written because a lease is unknown or expired
 * (`404 lease_not_found`): a certain answer.
 */
export interface LeaseNotFound {
  kind: "leaseNotFound";
}

/** POST a transaction. */
export async function kvTxn(
  client: Deno.HttpClient,
  baseUrl: string,
  txn: WireTxn,
  timeoutMs: number,
): Promise<TxnAnswer | LeaseNotFound | UnknownAnswer> {
  const r = await send(
    client,
    `${baseUrl}/v1/txn`,
    { method: "POST", body: JSON.stringify(txn), headers: { "content-type": "application/json" } },
    timeoutMs,
  );
  if ("kind" in r) return r;
  if (r.res.status === 200) {
    const body = JSON.parse(r.body) as Omit<TxnAnswer, "kind">;
    return {
      kind: "txn",
      succeeded: body.succeeded,
      revision: body.revision,
      results: body.results,
    };
  }
  if (r.res.status === 404 && r.body.includes('"lease_not_found"')) {
    return { kind: "leaseNotFound" };
  }
  return unknownStatus(r.res.status, r.body);
}

/** A lease the cluster granted. */
export interface LeaseAnswer {
  kind: "lease";
  id: string;
}

/** POST /v1/leases: grants a lease of `ttlSeconds`. */
export async function leaseGrant(
  client: Deno.HttpClient,
  baseUrl: string,
  ttlSeconds: number,
  timeoutMs: number,
): Promise<LeaseAnswer | UnknownAnswer> {
  const r = await send(
    client,
    `${baseUrl}/v1/leases`,
    {
      method: "POST",
      body: JSON.stringify({ ttlSeconds }),
      headers: { "content-type": "application/json" },
    },
    timeoutMs,
  );
  if ("kind" in r) return r;
  if (r.res.status === 201 || r.res.status === 200) {
    return { kind: "lease", id: (JSON.parse(r.body) as { id: string }).id };
  }
  return unknownStatus(r.res.status, r.body);
}

/** POST /v1/leases/{id}/keepalive (`alive`), or a certain "gone" (404), or unknown. */
export async function leaseKeepAlive(
  client: Deno.HttpClient,
  baseUrl: string,
  id: string,
  timeoutMs: number,
): Promise<{ kind: "alive" | "gone" } | UnknownAnswer> {
  const r = await send(
    client,
    `${baseUrl}/v1/leases/${id}/keepalive`,
    { method: "POST" },
    timeoutMs,
  );
  if ("kind" in r) return r;
  if (r.res.status === 200) return { kind: "alive" };
  if (r.res.status === 404 && r.body.includes('"lease_not_found"')) return { kind: "gone" };
  return unknownStatus(r.res.status, r.body);
}

/** DELETE /v1/leases/{id}: revokes a lease (and deletes its keys); 404 counts as done. */
export async function leaseRevoke(
  client: Deno.HttpClient,
  baseUrl: string,
  id: string,
  timeoutMs: number,
): Promise<{ kind: "revoked" } | UnknownAnswer> {
  const r = await send(client, `${baseUrl}/v1/leases/${id}`, { method: "DELETE" }, timeoutMs);
  if ("kind" in r) return r;
  if (r.res.status === 200) return { kind: "revoked" };
  if (r.res.status === 404 && r.body.includes('"lease_not_found"')) return { kind: "revoked" };
  return unknownStatus(r.res.status, r.body);
}
