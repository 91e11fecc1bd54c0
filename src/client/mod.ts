/**
 * The raftkv client: fetch-only TypeScript that runs unchanged on Deno, Bun, Node 20+,
 * browsers and Workers. It retries safely (every write carries an Idempotency-Key),
 * rotates over endpoints, and resumes watches without losing or repeating events. For
 * coordination it has transactions (`txn`, `atomic`), self-renewing leases (`lease`), and
 * etcd's lock and election recipes (`lock`, `election`) with fencing tokens.
 *
 * @example
 * ```ts
 * import { createClient, PreconditionFailed } from "./mod.ts";
 *
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"], token: "secret" });
 * const { modRevision } = await kv.put("config/mode", "blue");
 * try {
 *   await kv.put("config/mode", "green", { ifRevision: modRevision });
 * } catch (error) {
 *   if (!(error instanceof PreconditionFailed)) throw error;
 * }
 * const controller = new AbortController();
 * for await (const event of kv.watch("config/", { signal: controller.signal })) {
 *   console.log(event.type, event.key, event.text());
 *   controller.abort();
 * }
 * ```
 *
 * @module
 */

export {
  type AtomicCheck,
  type AtomicCommitOptions,
  AtomicOperation,
  type AtomicResult,
} from "./atomic.ts";
export {
  type ClientOptions,
  type ClusterClient,
  createClient,
  type RaftkvClient,
} from "./client.ts";
export type { Election, ElectionLeader, ElectionOptions, Leadership } from "./election.ts";
export {
  BadRequest,
  type ClientErrorCode,
  type ClientErrorDetails,
  LeaseLost,
  type LeaseLostReason,
  LeaseNotFound,
  NotFound,
  NotLeader,
  OutcomeUnknown,
  PreconditionFailed,
  RaftkvClientError,
  RevisionCompacted,
  Unauthorized,
  Unavailable,
} from "./errors.ts";
export type { LeaseHandle, LeaseOptions } from "./lease.ts";
export type { LeaseRef } from "./lease_id.ts";
export type { LockHandle, LockOptions } from "./lock.ts";
export type {
  CompareOp,
  TxnCompare,
  TxnOp,
  TxnOpResult,
  TxnOptions,
  TxnRequest,
  TxnResult,
} from "./txn_types.ts";
export type {
  ClusterCallOptions,
  DeleteOptions,
  DeletePrefixOptions,
  GetOptions,
  ListOptions,
  PutOptions,
  WatchOptions,
} from "./options.ts";
export type {
  ClusterInfo,
  ClusterMember,
  Consistency,
  DeletePrefixResult,
  DeleteResult,
  GetResult,
  ListItem,
  PutResult,
  Status,
  WatchEvent,
} from "./types.ts";
