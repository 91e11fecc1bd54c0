/**
 * `watch`: changes under a prefix as an async iterable over Server-Sent Events. A
 * dropped, failed or silent stream is reopened (rotating endpoints, with backoff) at
 * the cursor, so events are neither lost nor repeated; the watch ends when the
 * caller's signal aborts or the loop breaks, and throws RevisionCompacted (410) or any
 * other non-transient error.
 *
 * @module
 */

import { backoffDelayMs, sleep } from "./backoff.ts";
import type { CallContext } from "./call.ts";
import { BadRequest, RaftkvClientError, RevisionCompacted } from "./errors.ts";
import { errorFor, errorFromResponse } from "./http_error.ts";
import { JsonObject, malformed } from "./json_shape.ts";
import { checkKey } from "./key_path.ts";
import { DEFAULT_WATCH_IDLE_TIMEOUT_MS } from "./limits.ts";
import { fetchPage } from "./list.ts";
import type { WatchOptions } from "./options.ts";
import { SseParser } from "./sse.ts";
import type { WatchEvent } from "./types.ts";
import { decodeValue, utf8 } from "./values.ts";
import { WatchCursor } from "./watch_cursor.ts";

/** Error codes after which a watch reconnects instead of failing. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  "unavailable",
  "too_many_requests",
  "outcome_unknown",
]);

/** Yields changes under `prefix` until `options.signal` aborts. */
export async function* watchEvents(
  ctx: CallContext,
  prefix: string,
  options: WatchOptions = {},
): AsyncGenerator<WatchEvent, void, undefined> {
  const { signal } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_WATCH_IDLE_TIMEOUT_MS;
  checkWatchOptions(prefix, options.fromRevision, idleTimeoutMs);
  const exact = options.exact === true;
  if (exact) checkKey(prefix);
  let start = options.fromRevision;
  try {
    start ??= await nextRevision(ctx, prefix, signal);
  } catch (thrown) {
    if (signal?.aborted) return; // an abort ends a watch quietly, even this early
    throw thrown;
  }
  if (signal?.aborted) return;
  const cursor = new WatchCursor(start);
  let index = ctx.endpoints.first("preferred");
  let failures = 0;
  while (!signal?.aborted) {
    if (failures > 0) {
      if (!await pause(backoffDelayMs(failures, ctx.backoff), signal)) return;
      index = ctx.endpoints.next(index);
    }
    failures++;
    const stream = new SseStream(ctx, idleTimeoutMs, signal);
    try {
      await stream.open(ctx.endpoints.url(index, watchPath(prefix, exact, cursor.resumeAt)));
      ctx.endpoints.answered(index);
      for await (const message of stream.messages()) {
        if (message.event === "error") throw streamError(message.data);
        if (message.event !== "put" && message.event !== "delete") continue;
        const event = parseEvent(message.data);
        if (!cursor.accept(event)) continue;
        failures = 0;
        // One network chunk may hold many events: an abort between two of them ends the
        // watch here, not after the chunk is spent.
        if (signal?.aborted) return;
        yield event;
      }
    } catch (thrown) {
      if (signal?.aborted) return;
      if (thrown instanceof RaftkvClientError && !TRANSIENT_CODES.has(thrown.code)) throw thrown;
      // Anything else (network, timeout, idle, 503, 429) is worth another connection.
    } finally {
      await stream.close();
    }
  }
}

/** The revision after the store's current one: a watch without `fromRevision` starts there. */
async function nextRevision(
  ctx: CallContext,
  prefix: string,
  signal: AbortSignal | undefined,
): Promise<number> {
  const page = await fetchPage(ctx, {
    prefix,
    after: null,
    pageSize: 1,
    consistency: "linearizable",
    signal,
  });
  return page.revision + 1;
}

function watchPath(prefix: string, exact: boolean, fromRevision: number): string {
  const what = exact ? "key" : "prefix";
  return `/v1/watch?${what}=${encodeURIComponent(prefix)}&fromRevision=${fromRevision}`;
}

/** Sleeps; false when the signal aborted meanwhile. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

/** One SSE connection: opening it within `ctx.timeoutMs`, then reading with an idle deadline. */
class SseStream {
  readonly #ctx: CallContext;
  readonly #idleTimeoutMs: number;
  readonly #outer: AbortSignal | undefined;
  readonly #controller = new AbortController();
  readonly #onAbort = () => this.#controller.abort(this.#outer?.reason);
  #timer: ReturnType<typeof setTimeout> | undefined;
  #body: ReadableStream<Uint8Array> | null = null;

  constructor(ctx: CallContext, idleTimeoutMs: number, outer: AbortSignal | undefined) {
    this.#ctx = ctx;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#outer = outer;
    outer?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Sends the request; throws the typed error of any answer but 200. */
  async open(url: string): Promise<void> {
    this.#arm(this.#ctx.timeoutMs);
    const headers = new Headers({ Accept: "text/event-stream" });
    if (this.#ctx.token !== undefined) headers.set("Authorization", `Bearer ${this.#ctx.token}`);
    const response = await this.#ctx.fetch(url, {
      method: "GET",
      headers,
      signal: this.#controller.signal,
    });
    if (response.status !== 200) throw await errorFromResponse(response);
    if (response.body === null) throw malformed("watch answer has no body");
    this.#body = response.body;
  }

  /** The stream's events; every chunk (heartbeats too) re-arms the idle deadline. */
  async *messages(): AsyncGenerator<{ event: string; data: string }, void, undefined> {
    if (this.#body === null) throw malformed("watch stream read before it was opened");
    const reader = this.#body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    // Deno's fetch does not always fail a pending read when the request aborts after
    // the body started: cancel the reader ourselves so an abort ends the wait at once.
    const onAbort = () => void reader.cancel().catch(() => {});
    this.#controller.signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        this.#arm(this.#idleTimeoutMs);
        const { done, value } = await reader.read();
        // Some runtimes keep handing out buffered chunks after an abort: check ourselves.
        this.#controller.signal.throwIfAborted();
        if (done) return;
        yield* parser.feed(decoder.decode(value, { stream: true }));
      }
    } finally {
      this.#controller.signal.removeEventListener("abort", onAbort);
      reader.releaseLock();
    }
  }

  /** Ends the connection and forgets the caller's signal. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#outer?.removeEventListener("abort", this.#onAbort);
    this.#controller.abort();
    await this.#body?.cancel().catch(() => {});
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#controller.abort(new DOMException(`watch silent for ${ms} ms`, "TimeoutError"));
    }, ms);
  }
}

/** An `event: error` the server sent before closing the stream. */
function streamError(data: string): RaftkvClientError {
  let body: JsonObject;
  try {
    body = new JsonObject(new JsonObject(JSON.parse(data), "error event").raw("error"), "error");
  } catch {
    return malformed("the watch stream sent an unreadable error event");
  }
  const code = body.string("code");
  const message = body.string("message");
  if (code === "revision_compacted") return new RevisionCompacted(message, { status: 410 });
  return errorFor(code, message, { status: 0 });
}

function parseEvent(data: string): WatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw malformed("a watch event is not JSON");
  }
  const json = new JsonObject(parsed, "watch event");
  const type = json.string("type");
  if (type !== "put" && type !== "delete") throw malformed(`unknown watch event type ${type}`);
  const text = json.nullableString("value");
  const value = text === null ? null : decodeValue(text, json.raw("encoding"));
  return {
    type,
    key: json.string("key"),
    value,
    text: () => value === null ? null : utf8(value),
    revision: json.integer("revision"),
    createRevision: json.integer("createRevision"),
    version: json.integer("version"),
    lease: json.nullableString("lease"),
  };
}

function checkWatchOptions(
  prefix: string,
  fromRevision: number | undefined,
  idleTimeoutMs: number,
): void {
  if (typeof prefix !== "string") throw new BadRequest("prefix must be a string", { status: 0 });
  if (fromRevision !== undefined && (!Number.isSafeInteger(fromRevision) || fromRevision < 0)) {
    throw new BadRequest("fromRevision must be a non-negative integer", { status: 0 });
  }
  if (!Number.isFinite(idleTimeoutMs) || idleTimeoutMs <= 0) {
    throw new BadRequest("idleTimeoutMs must be a positive number of milliseconds", {
      status: 0,
    });
  }
}
