/**
 * Data shapes of the replicated key-value state machine, shared by `kv/` (which
 * produces them), `node/` (which carries them through the log) and `http/` (which
 * renders them). Types only.
 *
 * @module
 */

import type { TxnRequest, TxnResult } from "./txn_types.ts";

/** A stored key with its revisions. */
export interface KeyValue {
  key: string;
  value: Uint8Array;
  /** Store revision at which the key was (last) created. */
  createRevision: number;
  /** Store revision of the key's last change. */
  modRevision: number;
  /** Number of changes since creation (1 after the create). */
  version: number;
  /** Expiry on the leader-stamped clock (ms since epoch), or null. */
  expiresAtMs: number | null;
  /** Id of the lease the key is attached to, or null. */
  lease: string | null;
}

/** How fresh a read must be. */
export type Consistency = "linearizable" | "lease" | "stale";

/** A change to the key space. Carried in log entries inside a {@link KvEnvelope}. */
export type KvCommand =
  | {
    op: "put";
    key: string;
    value: Uint8Array;
    /** Time to live; null for none. */
    ttlMs: number | null;
    /** Compare-and-set: apply only if the key's modRevision equals this (0: key must not exist). */
    ifModRevision: number | null;
    /** Apply only if the key does not exist. */
    createOnly: boolean;
    /** Attach the key to this lease (absent or null: no lease, which detaches). */
    lease?: string | null;
  }
  | { op: "delete"; key: string; ifModRevision: number | null }
  | { op: "deletePrefix"; prefix: string }
  /**
   * Expire every key whose expiry, and every lease whose deadline, is at or before the
   * envelope's `nowMs` (with the lease's attached keys), at one revision.
   */
  | { op: "expire" }
  /** Create a lease; its id comes from the store's counter at apply. */
  | { op: "leaseGrant"; ttlMs: number }
  /** Renew these leases to `nowMs + ttl` (one entry for a tick's worth of keepalives). */
  | { op: "leaseKeepalive"; ids: string[] }
  /** Delete a lease and every key attached to it, at one revision. */
  | { op: "leaseRevoke"; id: string }
  /** A multi-key transaction, applied at one revision (see `txn.ts`). */
  | { op: "txn"; txn: TxnRequest };

/**
 * What one Normal log entry holds (encoded with CBOR). `nowMs` is the proposing
 * leader's clock: the only time replicas use, so expiry is identical everywhere.
 */
export interface KvEnvelope {
  command: KvCommand;
  /** Exactly-once key from the client's `Idempotency-Key`, or null. */
  idempotencyKey: string | null;
  nowMs: number;
}

/** Result of a put. */
export interface PutResult {
  key: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

/** Result of a delete of one key. */
export interface DeleteResult {
  key: string;
  deleted: boolean;
  /** Store revision after the delete. */
  revision: number;
}

/** Result of a prefix delete. */
export interface DeletePrefixResult {
  deleted: number;
  revision: number;
}

/** A lease as lookups and grants show it. */
export interface LeaseInfo {
  id: string;
  ttlMs: number;
  /** Deadline on the leader-stamped clock (ms since epoch). */
  deadlineMs: number;
}

/** Result of a lease grant. */
export interface LeaseGrantResult {
  lease: LeaseInfo;
}

/** Result of a keepalive batch: per requested id, the renewed lease or null (gone). */
export interface LeaseKeepaliveResult {
  renewed: (LeaseInfo | null)[];
}

/** Result of a revoke. */
export interface LeaseRevokeResult {
  id: string;
  revoked: true;
  /** Keys deleted with the lease. */
  deleted: number;
  /** Store revision after the revoke. */
  revision: number;
}

/** Outcome of applying one command: a result, or a typed refusal (e.g. CAS lost). */
export type ApplyResult =
  | {
    ok: true;
    value:
      | PutResult
      | DeleteResult
      | DeletePrefixResult
      | LeaseGrantResult
      | LeaseKeepaliveResult
      | LeaseRevokeResult
      | TxnResult
      | null;
  }
  | {
    ok: false;
    /** `bad_request`/`too_large`: an entry that should never have been proposed, refused alike everywhere. */
    code: "precondition_failed" | "not_found" | "bad_request" | "too_large" | "lease_not_found";
    message: string;
    current: PutResult | null;
  };

/** One change, as watchers see it. */
export interface WatchEvent {
  type: "put" | "delete";
  key: string;
  /** The new value for puts; absent for deletes. */
  value: Uint8Array | null;
  /** Revision of this change. */
  revision: number;
  createRevision: number;
  version: number;
  /** The key's lease after a put; null for deletes and keys without a lease. */
  lease: string | null;
}
