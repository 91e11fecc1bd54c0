/**
 * What Bun.serve needs around the shared fetch handler so a Bun node behaves on the wire
 * as a Deno node does (measured with tests/fuzz/ against Bun 1.4.4):
 *
 * - A refused request body is not drained. Bun reads an unread or half-read body to its
 *   end after the answer (100 MiB and more) unless the answer says `Connection: close`;
 *   so a 400 or 413 to a request that carried a body closes the connection, as
 *   Deno.serve does after a released body.
 * - Bun finishes a response's header block only with its first body bytes: an SSE watch
 *   with no change yet would leave the client without headers until the first event or
 *   heartbeat. A comment line (ignored by every SSE parser) goes first.
 *
 * @module
 */

import type { FetchHandler } from "./runtime.ts";

/** Statuses that mean "your body was refused" (too large, too slow, unreadable). */
const REFUSED_BODY_STATUSES = new Set([400, 413]);
const SSE_OPENING = new TextEncoder().encode(": open\n\n");

function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  return request.headers.has("transfer-encoding") || (length !== null && length !== "0");
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
  const adjust = (request: Request, response: Response): Response => {
    if (REFUSED_BODY_STATUSES.has(response.status) && hasBody(request)) {
      return withHeaders(response, response.body, (h) => h.set("connection", "close"));
    }
    const type = response.headers.get("content-type");
    if (response.body !== null && type !== null && type.startsWith("text/event-stream")) {
      return withHeaders(response, openedStream(response.body), () => {});
    }
    return response;
  };
  return (request) => {
    const answer = handler(request);
    return answer instanceof Promise
      ? answer.then((response) => adjust(request, response))
      : adjust(request, answer);
  };
}
