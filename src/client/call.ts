/**
 * One client call: attempts over the endpoints with per-attempt deadlines, jittered
 * exponential backoff and the retry rules. Reads retry freely; writes retry only
 * because every write carries an Idempotency-Key, so a repeat is applied at most once.
 *
 * Retried: 429, 503, 504, network errors, attempt timeouts. Never retried: any other
 * answer (the handler sees it). Out of retries, a write that may have been applied
 * throws OutcomeUnknown; otherwise the call throws Unavailable (or too_many_requests
 * when every failure was a 429).
 *
 * Only a node's own answer (503, 429) proves a write was not applied. A network error
 * proves nothing, not even "connection refused": fetch implementations pool
 * connections and resend a request whose kept-alive connection died, so the error seen
 * can be the refused reconnect after the first connection had already delivered the
 * write (measured with Deno's fetch: a write to a leader killed mid-request was applied
 * and reported as refused).
 *
 * @module
 */

import assert from "./assert.ts";
import { type AttemptSignal, attemptSignal } from "./attempt_signal.ts";
import { backoffDelayMs, type BackoffPolicy, sleep } from "./backoff.ts";
import type { Endpoints, StartAt } from "./endpoints.ts";
import { OutcomeUnknown, RaftkvClientError, Unavailable } from "./errors.ts";
import { errorFromResponse, optional } from "./http_error.ts";
import { MAX_RETRY_AFTER_MS } from "./limits.ts";

/** Statuses that mean "try again, maybe elsewhere". */
const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503, 504]);

/** The fetch the client calls; the global one unless injected. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** What every call needs from the client. */
export interface CallContext {
  endpoints: Endpoints;
  fetch: FetchLike;
  token: string | undefined;
  timeoutMs: number;
  retries: number;
  backoff: BackoffPolicy;
}

/** One logical request. */
export interface CallSpec {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path and query, starting with `/`. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array<ArrayBuffer>;
  /** True for writes: decides what a failure may have done. */
  write: boolean;
  startAt: StartAt;
  signal?: AbortSignal | undefined;
}

/** Reads an answer that is not retryable; runs under the attempt's deadline. */
export type Handler<T> = (response: Response) => Promise<T>;

interface Failure {
  error: RaftkvClientError;
  /** Whether this attempt may have applied a write. */
  maybeApplied: boolean;
}

/** Runs `spec` until `handle` returns, a non-retryable error, or the retries run out. */
export async function call<T>(ctx: CallContext, spec: CallSpec, handle: Handler<T>): Promise<T> {
  const failures: Failure[] = [];
  let index = ctx.endpoints.first(spec.startAt);
  for (let attempt = 0; attempt <= ctx.retries; attempt++) {
    if (attempt > 0) {
      await sleep(retryDelayMs(ctx, failures), spec.signal);
      index = ctx.endpoints.next(index);
    }
    const outcome = await attemptOnce(ctx, spec, index, handle);
    if (outcome.ok) {
      if (spec.startAt === "preferred") ctx.endpoints.answered(index);
      return outcome.value;
    }
    failures.push(outcome.failure);
  }
  throw exhausted(spec, failures, ctx.retries + 1);
}

type Outcome<T> = { ok: true; value: T } | { ok: false; failure: Failure };

async function attemptOnce<T>(
  ctx: CallContext,
  spec: CallSpec,
  index: number,
  handle: Handler<T>,
): Promise<Outcome<T>> {
  const attempt = attemptSignal(ctx.timeoutMs, spec.signal);
  const url = ctx.endpoints.url(index, spec.path);
  try {
    const response = await ctx.fetch(url, requestInit(ctx, spec, attempt.signal));
    if (!RETRY_STATUSES.has(response.status)) return { ok: true, value: await handle(response) };
    const error = await errorFromResponse(response);
    const maybeApplied = spec.write && response.status === 504;
    return { ok: false, failure: { error, maybeApplied } };
  } catch (thrown) {
    if (spec.signal?.aborted) throw spec.signal.reason;
    if (thrown instanceof RaftkvClientError) throw thrown;
    return { ok: false, failure: transportFailure(spec, url, thrown, attempt) };
  } finally {
    attempt.dispose();
  }
}

function requestInit(ctx: CallContext, spec: CallSpec, signal: AbortSignal): RequestInit {
  const headers = new Headers(spec.headers);
  if (ctx.token !== undefined) headers.set("Authorization", `Bearer ${ctx.token}`);
  const init: RequestInit = { method: spec.method, headers, signal };
  if (spec.body !== undefined) init.body = spec.body;
  return init;
}

/** A network error or a passed deadline, as a failure. */
function transportFailure(
  spec: CallSpec,
  url: string,
  thrown: unknown,
  attempt: AttemptSignal,
): Failure {
  const what = attempt.timedOut() ? "timed out" : `failed: ${describe(thrown)}`;
  const error = new Unavailable(`${spec.method} ${url} ${what}`, { status: 0, cause: thrown });
  return { error, maybeApplied: spec.write };
}

/**
 * Backoff before the next attempt. A `Retry-After` hint is honoured only with a single
 * endpoint: with several, the next attempt goes to another node the hint says nothing of.
 */
function retryDelayMs(ctx: CallContext, failures: readonly Failure[]): number {
  assert(failures.length > 0, "a retry follows a failure");
  const delayMs = backoffDelayMs(failures.length, ctx.backoff);
  const hint = failures.at(-1)?.error.retryAfterSeconds;
  if (hint === undefined || ctx.endpoints.urls.length > 1) return delayMs;
  return Math.max(delayMs, Math.min(hint * 1000, MAX_RETRY_AFTER_MS));
}

function exhausted(spec: CallSpec, failures: readonly Failure[], attempts: number) {
  const last = failures.at(-1);
  assert(last !== undefined && failures.length === attempts, "every attempt failed");
  const summary =
    `${spec.method} ${spec.path} failed ${attempts} time(s); last: ${last.error.message}`;
  const details = {
    status: last.error.status,
    cause: last.error,
    ...optional("retryAfterSeconds", last.error.retryAfterSeconds),
  };
  if (spec.write && failures.some((failure) => failure.maybeApplied)) {
    return new OutcomeUnknown(`${summary}; the write may or may not have been applied`, details);
  }
  if (failures.every((failure) => failure.error.code === "too_many_requests")) {
    return new RaftkvClientError("too_many_requests", summary, details);
  }
  return new Unavailable(summary, details);
}

/** The error's message and its causes', since fetch hides the socket error in `cause`. */
function describe(thrown: unknown): string {
  const parts: string[] = [];
  let current: unknown = thrown;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === "string" ? `${current.message} (${code})` : current.message);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(": ") : String(thrown);
}
