/**
 * What Bun.serve needs around the shared fetch handler so a Bun node behaves on the wire
 * as a Deno node does (measured with tests/fuzz/ against Bun 1.4.4):
 *
 * - A refused request body is not drained. Bun reads an unread or half-read body to its
 *   end after the answer (100 MiB and more) unless the answer says `Connection: close`;
 *   so a 400 or 413 to a request that carried a body closes the connection, as
 *   Deno.serve does after a released body.
 * - But closing a socket with unread bytes in it makes the kernel send a reset, which
 *   throws away the answer if the client has not read it yet: a `GET /metrics` with a
 *   1 MiB body and `Connection: close` (or a small PUT refused with 400) was sometimes
 *   seen as a hang-up. So a body the app left unread is read and dropped before the
 *   answer goes out, up to {@link MAX_DRAINED_BODY_BYTES} and {@link DRAIN_DEADLINE_MS};
 *   only a larger or slower one gets `Connection: close` undrained. A GET's or HEAD's
 *   body cannot be drained here: Bun does not hand it to the app (it skips it itself on a
 *   kept-alive connection; with `Connection: close` it may reset), see README.
 * - Bun finishes a response's header block only with its first body bytes: an SSE watch
 *   with no change yet would leave the client without headers until the first event or
 *   heartbeat. A comment line (ignored by every SSE parser) goes first.
 *
 * @module
 */

import type { FetchHandler } from "./runtime.ts";

/** An unread request body up to this size is drained before the answer (see above). */
export const MAX_DRAINED_BODY_BYTES = 2 * 1024 * 1024;
/**
 * How long draining an unread body may take before the connection is closed instead. A
 * client sends its body right after its headers, so this is short: a lying Content-Length
 * on a route that reads no body delays its answer by at most this much.
 */
export const DRAIN_DEADLINE_MS = 1_000;

/** Statuses that mean "your body was refused" (too large, too slow, unreadable). */
const REFUSED_BODY_STATUSES = new Set([400, 413]);
const SSE_OPENING = new TextEncoder().encode(": open\n\n");

function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  return request.headers.has("transfer-encoding") || (length !== null && length !== "0");
}

/** Whether the app left the body unread, and its declared size allows draining it. */
function drainable(request: Request): boolean {
  if (request.bodyUsed) return false;
  const length = request.headers.get("content-length");
  return length === null || Number(length) <= MAX_DRAINED_BODY_BYTES;
}

/** Reads and drops `request`'s body; false if it is larger or slower than allowed. */
async function drain(request: Request): Promise<boolean> {
  const reader = request.body!.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), DRAIN_DEADLINE_MS);
  });
  let total = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === "late") return false;
      if (next.done) return true;
      total += next.value.byteLength;
      if (total > MAX_DRAINED_BODY_BYTES) return false;
    }
  } catch {
    return false; // the client went away mid-body
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}

/** A copy of `response` with `headers` changed (a fetched response's own are immutable). */
function withHeaders(
  response: Response,
  body: BodyInit | null,
  change: (h: Headers) => void,
): Response {
  const headers = new Headers(response.headers);
  change(headers);
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/** Prepends an SSE comment, passing cancellation (a client gone) through to the source. */
function openedStream(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        controller.enqueue(SSE_OPENING);
      },
    }),
  );
}

/** Wraps `handler` with the Bun-specific fixes above. */
export function bunFetchHandler(handler: FetchHandler): FetchHandler {
  const close = (response: Response) =>
    withHeaders(response, response.body, (h) => h.set("connection", "close"));
  const sse = (response: Response): Response => {
    const type = response.headers.get("content-type");
    if (response.body !== null && type !== null && type.startsWith("text/event-stream")) {
      return withHeaders(response, openedStream(response.body), () => {});
    }
    return response;
  };
  const adjust = (request: Request, response: Response): Response | Promise<Response> => {
    if (!hasBody(request)) return sse(response);
    if (request.body === null) {
      // Bun hides a GET's or HEAD's body and skips it itself on a kept-alive connection.
      return REFUSED_BODY_STATUSES.has(response.status) ? close(response) : sse(response);
    }
    if (drainable(request)) {
      return drain(request).then((drained) => drained ? sse(response) : close(response));
    }
    if (REFUSED_BODY_STATUSES.has(response.status) || !request.bodyUsed) return close(response);
    return sse(response);
  };
  return (request) => {
    const answer = handler(request);
    return answer instanceof Promise
      ? answer.then((response) => adjust(request, response))
      : adjust(request, answer);
  };
}
