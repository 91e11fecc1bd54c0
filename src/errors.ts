/**
 * The one error family that crosses to users. Each code maps to exactly one HTTP
 * status, in `src/http/errors.ts`; nothing else decides statuses.
 *
 * @module
 */

/** Every error code a caller can see. Stable strings: clients switch on them. */
export type ErrorCode =
  | "bad_request" // 400: malformed input
  | "unauthorized" // 401
  | "forbidden" // 403
  | "not_found" // 404: no such key or route
  | "lease_not_found" // 404: the lease expired, was revoked or never existed
  | "method_not_allowed" // 405: the route exists, the method does not
  | "conflict" // 409: the request conflicts with cluster state (e.g. a membership change in progress)
  | "revision_compacted" // 410: watch history no longer reaches back that far
  | "precondition_failed" // 412: compare-and-set lost
  | "too_large" // 413: key or value over the limit
  | "too_many_requests" // 429: a bounded queue is full
  | "internal" // 500: a bug
  | "unavailable" // 503: no leader or no quorum; safe to retry
  | "outcome_unknown"; // 504: a write's fate is unknown after its deadline

/**
 * What a removed member answers to every read, write and probe: its data stopped at its
 * removal, so serving it (even as a stale read) would be serving a dead replica.
 */
export function removedMemberError(id: string): RaftkvError {
  return new RaftkvError(
    "unavailable",
    `node ${id} was removed from the cluster and serves no reads or writes; ` +
      `wipe its data directory to add it again`,
  );
}

/** An error meant for users: a stable `code` plus a human message. */
export class RaftkvError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Seconds after which a retry may succeed (sent as `Retry-After`), if known. */
  readonly retryAfterSeconds: number | undefined;

  /** Creates an error with a code, a message and optionally a retry hint. */
  constructor(code: ErrorCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = "RaftkvError";
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
