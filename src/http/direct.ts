/**
 * The direct lane: single-key reads and writes (`GET|PUT|DELETE /v1/kv/{key}`), nearly
 * all of a store's traffic, go straight to their handlers instead of through the router
 * and the middleware stack. Measured over Deno.serve (a node answering at once), the
 * stack cost about a third of a read's CPU: 29 µs against 20 µs per request.
 *
 * The lane is open unless CORS is configured (its headers and preflights belong to the
 * stack); it does the stack's other work itself, with the same code: tokens (through
 * the same authorizer as the middleware), leader headers (the handlers add them), error
 * mapping and request metrics.
 *
 * @module
 */

import { errorAnswer, toRaftkvError } from "./errors.ts";
import { authEnabled, authorizer } from "./auth.ts";
import { withLeaderHeaders } from "./leader_headers.ts";
import type { NodeApi } from "./node_api.ts";
import type { HttpOptions } from "./options.ts";
import { deleteKey, getKey, KEY_PATH_PREFIX, pathOf, putKey } from "./routes/kv.ts";

/** The route label the router would give these requests in metrics. */
const ROUTE = `${KEY_PATH_PREFIX}*`;

type Handler = (request: Request, node: NodeApi, options: HttpOptions) => Promise<Response>;

const HANDLERS: Readonly<Record<string, Handler>> = {
  GET: getKey,
  HEAD: headKey,
  PUT: putKey,
  DELETE: deleteKey,
};

/**
 * HEAD: GET's answer without its body but with its length. Through the router (which
 * answers HEAD with a bodiless copy of the GET answer) it said `Content-Length: 0` for
 * any value. HEAD is rare, so measuring the body by reading it costs nothing that matters.
 */
async function headKey(request: Request, node: NodeApi, options: HttpOptions): Promise<Response> {
  const answer = await getKey(request, node, options);
  const headers = new Headers(answer.headers);
  headers.set("Content-Length", String((await answer.arrayBuffer()).byteLength));
  return new Response(null, { status: answer.status, headers });
}

/**
 * A function answering the requests the lane takes and returning null for the rest
 * (for the router); or null when the lane is closed by the options.
 */
export function directLane(
  node: NodeApi,
  options: HttpOptions,
): ((request: Request) => Promise<Response> | null) | null {
  if (options.corsOrigins.length > 0) return null;
  const authorize = options.auth && authEnabled(options.auth) ? authorizer(options.auth) : null;
  const metrics = options.metrics;
  return (request) => {
    const handler = HANDLERS[request.method];
    if (handler === undefined) return null;
    const path = pathOf(request.url);
    if (!path.startsWith(KEY_PATH_PREFIX) || path.length === KEY_PATH_PREFIX.length) return null;
    const startedMs = performance.now();
    const observe = (response: Response): Response => {
      metrics?.observeHttp(
        ROUTE,
        request.method,
        response.status,
        (performance.now() - startedMs) / 1000,
      );
      return response;
    };
    const answer = authorize === null
      ? handler(request, node, options)
      : authorize(request.method, path, request.headers.get("authorization")).then((refusal) =>
        refusal === null
          ? handler(request, node, options)
          : errorAnswer(refusal.error, withLeaderHeaders(node, refusal.headers))
      );
    return answer.then(observe, (thrown) => {
      const { error, unexpected } = toRaftkvError(thrown);
      if (unexpected) console.error(`raftkv http: ${request.method} ${path} failed:`, thrown);
      return observe(errorAnswer(error, withLeaderHeaders(node, {})));
    });
  };
}
