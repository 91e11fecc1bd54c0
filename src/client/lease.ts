/**
 * `lease(ttlSeconds)`: a lease granted by the cluster and a handle that keeps it alive.
 *
 * The handle renews every ttl/3. A renewal that fails is retried at once on the next
 * endpoint, with backoff and short attempts, until the *local deadline*: the moment the
 * last acknowledged renewal was sent plus the remaining time it reported (at most the
 * TTL). The server never expires a lease before ttl after its last acknowledged
 * keepalive, and that acknowledgement came after we sent it, so up to the local
 * deadline the lease surely exists. Past it, or on `404 lease_not_found`, `lost`
 * resolves and renewals stop: whatever the lease guarded must be treated as gone.
 *
 * @module
 */

import { readJson } from "./body.ts";
import { call, type CallContext } from "./call.ts";
import { BadRequest, LeaseLost, type LeaseLostReason, LeaseNotFound } from "./errors.ts";
import { errorFromResponse } from "./http_error.ts";
import { JsonObject } from "./json_shape.ts";
import { writeHeaders } from "./keys.ts";
import { isLeaseId } from "./lease_id.ts";
import {
  MAX_LEASE_TTL_SECONDS,
  MAX_RETRIES,
  MAX_SMALL_ANSWER_BYTES,
  MIN_KEEPALIVE_RETRY_MS,
} from "./limits.ts";
import { malformed } from "./json_shape.ts";
import { toBytes } from "./values.ts";

/**
 * A lease kept alive by the client until revoked, disposed or lost.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * await using lease = await kv.lease(10);
 * await kv.put("workers/w1", "alive", { lease });
 * const lost = await Promise.race([lease.lost, new Promise((r) => setTimeout(r, 1000))]);
 * ```
 */
export interface LeaseHandle {
  /** The lease id the cluster assigned. */
  readonly id: string;
  /** The lease's time to live, in seconds. */
  readonly ttlSeconds: number;
  /**
   * Resolves (never rejects) once the handle stops holding the lease: `reason` is
   * `revoked` after `revoke()`, `not_found` when the cluster no longer knows it, or
   * `deadline` when no renewal was acknowledged in time.
   */
  readonly lost: Promise<LeaseLost>;
  /** Milliseconds until the local deadline (≤ 0 once lost): a safe lower bound of the lease's life. */
  remainingMs(): number;
  /** Stops renewing and revokes the lease, deleting every key attached to it. Idempotent. */
  revoke(options?: { signal?: AbortSignal }): Promise<void>;
  /** Same as `revoke()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Options of `lease`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const lease = await kv.lease(30, { signal: AbortSignal.timeout(5_000) });
 * ```
 */
export interface LeaseOptions {
  /** Aborts the grant (a lease granted meanwhile expires on its own). */
  signal?: AbortSignal;
}

/** Grants a lease and starts keeping it alive. */
export async function grantLease(
  ctx: CallContext,
  ttlSeconds: number,
  options: LeaseOptions = {},
): Promise<LeaseHandle> {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_LEASE_TTL_SECONDS) {
    throw new BadRequest(
      `ttlSeconds must be a number above 0 and at most ${MAX_LEASE_TTL_SECONDS}`,
      {
        status: 0,
      },
    );
  }
  const sentAt = performance.now();
  const granted = await call(ctx, {
    method: "POST",
    path: "/v1/leases",
    headers: { "Content-Type": "application/json", ...writeHeaders(undefined) },
    body: toBytes(JSON.stringify({ ttlSeconds })),
    write: true,
    startAt: "preferred",
    signal: options.signal,
  }, async (response) => {
    if (!response.ok) throw await errorFromResponse(response);
    const json = new JsonObject(await readJson(response, MAX_SMALL_ANSWER_BYTES), "lease grant");
    const id = json.string("id");
    if (!isLeaseId(id)) throw malformed(`lease id ${JSON.stringify(id)} is not lowercase hex`);
    return { id, ttlSeconds: numberField(json, "ttlSeconds") };
  });
  return new KeptLease(ctx, granted.id, granted.ttlSeconds, sentAt);
}

/** The handle: one renewal timer, one renewal in flight at most. */
class KeptLease implements LeaseHandle {
  readonly id: string;
  readonly ttlSeconds: number;
  readonly lost: Promise<LeaseLost>;
  /** The client's context, for revoke: the caller's own retry budget. */
  readonly #ctx: CallContext;
  /** Renewals: short attempts, retried until the local deadline cuts them off. */
  readonly #renewCtx: CallContext;
  readonly #ttlMs: number;
  readonly #everyMs: number;
  #deadline: number;
  #settle: (lost: LeaseLost) => void = () => {};
  #done = false;
  #reason: LeaseLostReason | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: AbortController | null = null;
  #revoking: Promise<void> | null = null;

  constructor(ctx: CallContext, id: string, ttlSeconds: number, grantSentAt: number) {
    this.id = id;
    this.ttlSeconds = ttlSeconds;
    this.#ttlMs = ttlSeconds * 1000;
    this.#everyMs = this.#ttlMs / 3;
    this.#deadline = grantSentAt + this.#ttlMs;
    this.#ctx = ctx;
    // Renewals try each endpoint briefly: a hung node must not eat the whole TTL.
    this.#renewCtx = {
      ...ctx,
      timeoutMs: Math.min(ctx.timeoutMs, Math.max(this.#everyMs, MIN_KEEPALIVE_RETRY_MS)),
      retries: MAX_RETRIES,
    };
    this.lost = new Promise((resolve) => this.#settle = resolve);
    this.#schedule(this.#everyMs - (performance.now() - grantSentAt));
  }

  remainingMs(): number {
    return this.#done ? 0 : this.#deadline - performance.now();
  }

  revoke(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#revoking ??= this.#revoke(options.signal);
    return this.#revoking;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.revoke();
  }

  async #revoke(signal: AbortSignal | undefined): Promise<void> {
    this.#stop("revoked", `lease ${this.id} was revoked`);
    if (this.#reason === "not_found") return; // the cluster already dropped it
    await call(this.#ctx, {
      method: "DELETE",
      path: `/v1/leases/${this.id}`,
      headers: writeHeaders(undefined),
      write: true,
      startAt: "preferred",
      signal,
    }, async (response) => {
      if (response.status === 404) return void await response.body?.cancel();
      if (!response.ok) throw await errorFromResponse(response);
      await response.body?.cancel();
    });
  }

  #schedule(ms: number): void {
    if (this.#done) return;
    this.#timer = setTimeout(() => void this.#renew(), Math.max(0, ms));
  }

  /** One renewal (with its retries, bounded by the local deadline). */
  async #renew(): Promise<void> {
    const sentAt = performance.now();
    const controller = new AbortController();
    this.#inFlight = controller;
    const expiry = setTimeout(
      () => controller.abort(new DOMException("lease deadline passed", "TimeoutError")),
      Math.max(0, this.#deadline - sentAt),
    );
    try {
      const remainingMs = await call(this.#renewCtx, {
        method: "POST",
        path: `/v1/leases/${this.id}/keepalive`,
        write: false, // a repeated keepalive only renews again
        startAt: "preferred",
        signal: controller.signal,
      }, async (response) => {
        if (!response.ok) throw await errorFromResponse(response);
        const json = new JsonObject(
          await readJson(response, MAX_SMALL_ANSWER_BYTES),
          "keepalive answer",
        );
        return numberField(json, "remainingMs");
      });
      if (this.#done) return;
      this.#deadline = Math.max(this.#deadline, sentAt + Math.min(remainingMs, this.#ttlMs));
      this.#schedule(this.#everyMs - (performance.now() - sentAt));
    } catch (error) {
      if (this.#done) return;
      if (error instanceof LeaseNotFound) {
        this.#stop("not_found", `lease ${this.id} is gone from the cluster`, error);
      } else if (performance.now() >= this.#deadline || controller.signal.aborted) {
        this.#stop("deadline", `lease ${this.id} was not renewed before its deadline`, error);
      } else {
        // The retries ran out early (or a non-retryable answer): try again soon.
        this.#schedule(Math.min(this.#everyMs, this.#deadline - performance.now()) / 4);
      }
    } finally {
      clearTimeout(expiry);
      if (this.#inFlight === controller) this.#inFlight = null;
    }
  }

  #stop(reason: LeaseLostReason, message: string, cause?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#reason = reason;
    clearTimeout(this.#timer);
    this.#inFlight?.abort(new DOMException("lease handle stopped", "AbortError"));
    this.#settle(new LeaseLost(message, { status: 0, reason, cause }));
  }
}

function numberField(json: JsonObject, name: string): number {
  const value = json.raw(name);
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw malformed(`lease answer field ${name} is not a non-negative number`);
  }
  return value;
}
