/**
 * The client's error family. Every failure a caller can handle is a
 * {@link RaftkvClientError} with the server's stable `code`, the HTTP `status`
 * (0 when no HTTP answer arrived) and a message; the common cases have subclasses so
 * callers can use `instanceof`. The client defines its own classes so it stays free of
 * server code and runs on any runtime.
 *
 * @module
 */

/**
 * Error codes the server sends, plus codes the client raises itself.
 *
 * @example
 * ```ts
 * import { type ClientErrorCode, RaftkvClientError } from "./mod.ts";
 * const retryable: ClientErrorCode[] = ["unavailable", "too_many_requests"];
 * const shouldRetry = (e: unknown) => e instanceof RaftkvClientError && retryable.includes(e.code as ClientErrorCode);
 * ```
 */
export type ClientErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "revision_compacted"
  | "precondition_failed"
  | "too_large"
  | "too_many_requests"
  | "internal"
  | "unavailable"
  | "outcome_unknown"
  | "lease_not_found"
  | "lease_lost"
  | "not_leader";

/**
 * What every client error carries besides its message.
 *
 * @example
 * ```ts
 * import { type ClientErrorDetails, Unavailable } from "./mod.ts";
 * const details: ClientErrorDetails = { status: 503, retryAfterSeconds: 1 };
 * const error = new Unavailable("no leader", details);
 * ```
 */
export interface ClientErrorDetails {
  /** HTTP status of the answer, or 0 when none arrived (network error, timeout). */
  status: number;
  /** Seconds the server asked to wait before retrying (`Retry-After`), if it said. */
  retryAfterSeconds?: number;
  /** The error that caused this one (e.g. the last attempt's failure). */
  cause?: unknown;
}

/**
 * Base of every error the client throws on purpose.
 *
 * @example
 * ```ts
 * import { createClient, RaftkvClientError } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * try {
 *   await kv.put("greeting", "hello");
 * } catch (error) {
 *   if (error instanceof RaftkvClientError) console.error(error.code, error.status);
 * }
 * ```
 */
export class RaftkvClientError extends Error {
  /** Stable machine-readable code (the server's, or one the client chose). */
  readonly code: ClientErrorCode | (string & Record<never, never>);
  /** HTTP status, or 0 when no HTTP answer arrived. */
  readonly status: number;
  /** Seconds the server asked to wait before retrying, if it said. */
  readonly retryAfterSeconds: number | undefined;

  /** Creates an error; subclasses fix `code`. */
  constructor(code: string, message: string, details: ClientErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "RaftkvClientError";
    this.code = code;
    this.status = details.status;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/**
 * 404: the key or route does not exist. `get` and `delete` answer a missing key with
 * `null` / `deleted: false` instead; this is thrown when the route itself is missing.
 *
 * @example
 * ```ts
 * import { NotFound } from "./mod.ts";
 * const error = new NotFound("no route for /v2/kv/a", { status: 404 });
 * console.log(error.code); // "not_found"
 * ```
 */
export class NotFound extends RaftkvClientError {
  /** Creates a not_found error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("not_found", message, details);
    this.name = "NotFound";
  }
}

/**
 * 412: a compare-and-set (`ifRevision`) or create-only write lost. `currentRevision`
 * is the key's modRevision at that moment when the server named it (from `ETag`).
 *
 * @example
 * ```ts
 * import { createClient, PreconditionFailed } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * try {
 *   await kv.put("counter", "2", { ifRevision: 41 });
 * } catch (error) {
 *   if (error instanceof PreconditionFailed) console.log("now at", error.currentRevision);
 * }
 * ```
 */
export class PreconditionFailed extends RaftkvClientError {
  /** The key's modRevision when the compare failed, or null if it did not exist/unsaid. */
  readonly currentRevision: number | null;

  /** Creates a precondition_failed error. */
  constructor(message: string, details: ClientErrorDetails & { currentRevision?: number | null }) {
    super("precondition_failed", message, details);
    this.name = "PreconditionFailed";
    this.currentRevision = details.currentRevision ?? null;
  }
}

/**
 * 503 or unreachable: no node could serve the request within the retry budget. For a
 * write, every attempt was refused by a node's own answer (503), so it certainly was not
 * applied; a write that met a network error instead throws {@link OutcomeUnknown}.
 *
 * @example
 * ```ts
 * import { Unavailable } from "./mod.ts";
 * const error = new Unavailable("no leader", { status: 503, retryAfterSeconds: 1 });
 * console.log(error.retryAfterSeconds); // 1
 * ```
 */
export class Unavailable extends RaftkvClientError {
  /** Creates an unavailable error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("unavailable", message, details);
    this.name = "Unavailable";
  }
}

/**
 * A write may or may not have been applied: an attempt timed out, lost its connection
 * after sending, or the server answered 504, and the retries (same Idempotency-Key)
 * ran out before any answer settled it. Retrying with the same `idempotencyKey` is
 * safe while the server still remembers the key.
 *
 * @example
 * ```ts
 * import { createClient, OutcomeUnknown } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const idempotencyKey = crypto.randomUUID();
 * try {
 *   await kv.put("order/17", "paid", { idempotencyKey });
 * } catch (error) {
 *   if (error instanceof OutcomeUnknown) await kv.put("order/17", "paid", { idempotencyKey });
 * }
 * ```
 */
export class OutcomeUnknown extends RaftkvClientError {
  /** Creates an outcome_unknown error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("outcome_unknown", message, details);
    this.name = "OutcomeUnknown";
  }
}

/**
 * 410: a watch asked for history the server has already compacted. Re-read the state
 * (e.g. with `list`) and watch again from the revision that read returned.
 *
 * @example
 * ```ts
 * import { createClient, RevisionCompacted } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * try {
 *   for await (const event of kv.watch("jobs/", { fromRevision: 1 })) console.log(event.key);
 * } catch (error) {
 *   if (error instanceof RevisionCompacted) console.log("resync needed");
 * }
 * ```
 */
export class RevisionCompacted extends RaftkvClientError {
  /** Creates a revision_compacted error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("revision_compacted", message, details);
    this.name = "RevisionCompacted";
  }
}

/**
 * 401: the token is missing or wrong.
 *
 * @example
 * ```ts
 * import { Unauthorized } from "./mod.ts";
 * const error = new Unauthorized("bad token", { status: 401 });
 * console.log(error instanceof Error); // true
 * ```
 */
export class Unauthorized extends RaftkvClientError {
  /** Creates an unauthorized error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("unauthorized", message, details);
    this.name = "Unauthorized";
  }
}

/**
 * 400 (or a request the client refuses to send): the input is malformed.
 *
 * @example
 * ```ts
 * import { BadRequest, createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.put("", "x").catch((error) => console.log(error instanceof BadRequest)); // true
 * ```
 */
export class BadRequest extends RaftkvClientError {
  /** Creates a bad_request error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("bad_request", message, details);
    this.name = "BadRequest";
  }
}

/**
 * 404 `lease_not_found`: the lease expired or was revoked (or never existed); a write
 * naming it wrote nothing.
 *
 * @example
 * ```ts
 * import { createClient, LeaseNotFound } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.put("session/a", "x", { lease: "7f" }).catch((error) => {
 *   if (error instanceof LeaseNotFound) console.log("lease gone; grant a new one");
 * });
 * ```
 */
export class LeaseNotFound extends RaftkvClientError {
  /** Creates a lease_not_found error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("lease_not_found", message, details);
    this.name = "LeaseNotFound";
  }
}

/** Why a lease handle stopped: revoked by its owner, gone on the server, or not renewed in time. */
export type LeaseLostReason = "revoked" | "not_found" | "deadline";

/**
 * A lease handle stopped holding its lease: what `lease.lost` resolves with, and what a
 * lock or election throws when its lease went away underneath it. After `not_found` or
 * `deadline`, anything the lease guarded (a lock, a leadership) must be treated as lost.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const lease = await kv.lease(10);
 * lease.lost.then((lost) => console.warn(`lease ${lease.id} lost: ${lost.reason}`));
 * ```
 */
export class LeaseLost extends RaftkvClientError {
  /** Why the lease was lost. */
  readonly reason: LeaseLostReason;

  /** Creates a lease_lost error. */
  constructor(message: string, details: ClientErrorDetails & { reason: LeaseLostReason }) {
    super("lease_lost", message, details);
    this.name = "LeaseLost";
    this.reason = details.reason;
  }
}

/**
 * An election call that needs leadership (`proclaim`) made by a campaigner that does not
 * hold it (never won, resigned, or its key is gone).
 *
 * @example
 * ```ts
 * import { createClient, NotLeader } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await kv.election("jobs/leader").proclaim("v2").catch((error) => {
 *   if (error instanceof NotLeader) console.log("campaign first");
 * });
 * ```
 */
export class NotLeader extends RaftkvClientError {
  /** Creates a not_leader error. */
  constructor(message: string, details: ClientErrorDetails) {
    super("not_leader", message, details);
    this.name = "NotLeader";
  }
}
