/**
 * `createClient`: the one entry point. It validates the options once and hands every
 * method the same call context (endpoints, fetch, token, deadlines, retry budget).
 *
 * @module
 */

import { AtomicOperation } from "./atomic.ts";
import type { CallContext, FetchLike } from "./call.ts";
import { fetchClusterInfo, fetchStatus } from "./cluster.ts";
import { Endpoints } from "./endpoints.ts";
import { BadRequest } from "./errors.ts";
import { createElection, type Election, type ElectionOptions } from "./election.ts";
import { deleteKey, deletePrefix, getKey, putKey } from "./keys.ts";
import { grantLease, type LeaseHandle, type LeaseOptions } from "./lease.ts";
import {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_MS,
  MAX_RETRIES,
} from "./limits.ts";
import { listItems } from "./list.ts";
import { acquireLock, type LockHandle, type LockOptions } from "./lock.ts";
import type {
  ClusterCallOptions,
  DeleteOptions,
  DeletePrefixOptions,
  GetOptions,
  ListOptions,
  PutOptions,
  WatchOptions,
} from "./options.ts";
import type {
  ClusterInfo,
  DeletePrefixResult,
  DeleteResult,
  GetResult,
  ListItem,
  PutResult,
  Status,
  WatchEvent,
} from "./types.ts";
import { runTxn } from "./txn.ts";
import type { TxnOptions, TxnRequest, TxnResult } from "./txn_types.ts";
import { watchEvents } from "./watch.ts";

/**
 * How to reach the cluster and how hard to try.
 *
 * @example
 * ```ts
 * import { type ClientOptions, createClient } from "./mod.ts";
 * const options: ClientOptions = {
 *   endpoints: ["https://kv-1.internal", "https://kv-2.internal"],
 *   token: "secret",
 *   timeoutMs: 2_000,
 *   retries: 3,
 * };
 * const kv = createClient(options);
 * ```
 */
export interface ClientOptions {
  /** Base URLs of the nodes (e.g. `http://10.0.0.1:8080`); the nearest first. */
  endpoints: string[];
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Deadline of one attempt, in milliseconds; default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt; default 8 (at least 3.5 s of backoff), at most 100. */
  retries?: number;
  /** The fetch to use; the global `fetch` by default. */
  fetch?: typeof fetch;
  /** Backoff between attempts: ceiling `baseMs * 2^n` capped at `maxMs` (defaults 50, 2000). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Uniform random numbers in [0, 1) for the jitter; `Math.random` by default. */
  random?: () => number;
}

/**
 * Node and membership introspection.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const status = await kv.cluster.status();
 * if (!status.ready) console.warn("node not ready");
 * ```
 */
export interface ClusterClient {
  /** `GET /v1/status` of the first endpoint that answers (or of `options.endpoint`). */
  status(options?: ClusterCallOptions): Promise<Status>;
  /** `GET /v1/cluster`: membership and replication progress (a read token suffices). */
  info(options?: ClusterCallOptions): Promise<ClusterInfo>;
}

/**
 * A raftkv client. Every method is safe to call concurrently.
 *
 * @example
 * ```ts
 * import { createClient, type RaftkvClient } from "./mod.ts";
 * async function bump(kv: RaftkvClient, key: string): Promise<void> {
 *   const current = await kv.get(key);
 *   const next = String(Number(current?.text() ?? "0") + 1);
 *   await kv.put(key, next, current === null ? { createOnly: true } : { ifRevision: current.modRevision });
 * }
 * await bump(createClient({ endpoints: ["http://127.0.0.1:8080"] }), "counter");
 * ```
 */
export interface RaftkvClient {
  /** Reads `key`; null when it does not exist. */
  get(key: string, options?: GetOptions): Promise<GetResult | null>;
  /** Writes `key`; throws PreconditionFailed when `ifRevision`/`createOnly` does not hold. */
  put(key: string, value: string | Uint8Array, options?: PutOptions): Promise<PutResult>;
  /** Deletes `key`; `deleted: false` when it did not exist. */
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult>;
  /** Deletes every key starting with `prefix` (the empty prefix needs `{ all: true }`). */
  deletePrefix(prefix: string, options?: DeletePrefixOptions): Promise<DeletePrefixResult>;
  /** Every key starting with `prefix`, in key order, fetched page by page. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListItem>;
  /** Changes under `prefix` (or of one key with `exact`), resuming across disconnects. */
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent>;
  /** One transaction (etcd's Txn): compares, then the success or failure branch, at one revision. */
  txn(request: TxnRequest, options?: TxnOptions): Promise<TxnResult>;
  /** Deno KV style checks + mutations committed as one transaction. */
  atomic(): AtomicOperation;
  /** Grants a lease of `ttlSeconds` and keeps it alive until revoked or lost. */
  lease(ttlSeconds: number, options?: LeaseOptions): Promise<LeaseHandle>;
  /** Waits for and takes the distributed lock `name` (keys under `name/`). */
  lock(name: string, options?: LockOptions): Promise<LockHandle>;
  /** A campaigner in the leader election `name` (keys under `name/`). */
  election(name: string, options?: ElectionOptions): Election;
  /** Node and membership introspection. */
  readonly cluster: ClusterClient;
  /** The normalized endpoints, in the caller's order. */
  readonly endpoints: readonly string[];
}

/**
 * Creates a client for a raftkv cluster. It only needs the web-standard `fetch`, so it
 * runs unchanged on Deno, Bun, Node 20+, browsers and Workers.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080", "http://127.0.0.1:8081"] });
 * const written = await kv.put("users/42/name", "Ada");
 * const read = await kv.get("users/42/name");
 * console.log(read?.text(), read?.modRevision === written.modRevision);
 * for await (const item of kv.list("users/")) console.log(item.key, item.text());
 * ```
 */
export function createClient(options: ClientOptions): RaftkvClient {
  const ctx = contextOf(options);
  return {
    get: (key, opts) => getKey(ctx, key, opts),
    put: (key, value, opts) => putKey(ctx, key, value, opts),
    delete: (key, opts) => deleteKey(ctx, key, opts),
    deletePrefix: (prefix, opts) => deletePrefix(ctx, prefix, opts),
    list: (prefix, opts) => listItems(ctx, prefix, opts),
    watch: (prefix, opts) => watchEvents(ctx, prefix, opts),
    txn: (request, opts) => runTxn(ctx, request, opts),
    atomic: () => new AtomicOperation(ctx),
    lease: (ttlSeconds, opts) => grantLease(ctx, ttlSeconds, opts),
    lock: (name, opts) => acquireLock(ctx, name, opts),
    election: (name, opts) => createElection(ctx, name, opts),
    cluster: {
      status: (opts) => fetchStatus(ctx, opts),
      info: (opts) => fetchClusterInfo(ctx, opts),
    },
    endpoints: ctx.endpoints.urls,
  };
}

function contextOf(options: ClientOptions): CallContext {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = options.retries ?? DEFAULT_RETRIES;
  const baseMs = options.backoff?.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const maxMs = options.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new BadRequest("timeoutMs must be a positive number", { status: 0 });
  }
  if (!Number.isSafeInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw new BadRequest(`retries must be an integer from 0 to ${MAX_RETRIES}`, { status: 0 });
  }
  if (!(baseMs >= 0 && maxMs >= baseMs && Number.isFinite(maxMs))) {
    throw new BadRequest("backoff needs 0 <= baseMs <= maxMs", { status: 0 });
  }
  if (options.token !== undefined && (options.token === "" || /[\r\n]/.test(options.token))) {
    throw new BadRequest("token must be a non-empty single line", { status: 0 });
  }
  const injected = options.fetch;
  // Called through a wrapper: browsers throw "Illegal invocation" when the global
  // fetch is called as a method of another object.
  const fetchLike: FetchLike = injected === undefined
    ? (input, init) => globalThis.fetch(input, init)
    : (input, init) => injected(input, init);
  return {
    endpoints: new Endpoints(options.endpoints),
    fetch: fetchLike,
    token: options.token,
    timeoutMs,
    retries,
    backoff: { baseMs, maxMs, random: options.random ?? Math.random },
  };
}
